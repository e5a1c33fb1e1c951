package command

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

var shells = []string{"bash", "zsh", "fish"}

// Completion prints a completion script for one shell, built from the
// command tree and each command's flag set, so that it cannot drift from
// the flags.
func Completion(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "completion", "bash|zsh|fish",
		"Prints a shell completion script for chorus's commands, verbs and flags:\n\n"+
			"  bash:  source <(chorus completion bash)     (or save it in /etc/bash_completion.d/chorus)\n"+
			"  zsh:   source <(chorus completion zsh)      (after compinit; or save it as _chorus in $fpath)\n"+
			"  fish:  chorus completion fish > ~/.config/fish/completions/chorus.fish")
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(env, fs, "want one shell: bash, zsh or fish")
	}
	tree := completionTree()
	switch pos[0] {
	case "bash":
		writeBash(env.Stdout, tree)
	case "zsh":
		writeZsh(env.Stdout, tree)
	case "fish":
		writeFish(env.Stdout, tree)
	default:
		return usageError(env, fs, "unknown shell %q (want bash, zsh or fish)", pos[0])
	}
	return nil
}

// compNode is a command or verb with what completes after it.
type compNode struct {
	name, summary string
	flags         []compFlag
	verbs         []compNode
	args          []string
}

type compFlag struct {
	name, usage string
	// takesValue is false for booleans.
	takesValue bool
}

func completionTree() []compNode {
	var nodes []compNode
	for _, sc := range subcommands {
		// A command with verbs has flags of its own only when it also runs
		// without one (models); the others' collect nothing.
		n := compNode{name: sc.name, summary: sc.summary, args: sc.args, flags: flagsOf(sc.run)}
		for _, v := range sc.verbs {
			n.verbs = append(n.verbs, compNode{name: v.name, summary: v.summary, flags: flagsOf(v.run), args: v.args})
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// flagsOf runs a command in collect mode, which returns its flag set
// instead of running it.
func flagsOf(run func(context.Context, Env, []string) error) []compFlag {
	var flags []compFlag
	env := Env{Stdout: io.Discard, Stderr: io.Discard, collect: func(fs *flag.FlagSet) {
		fs.VisitAll(func(f *flag.Flag) {
			isBool := false
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok {
				isBool = b.IsBoolFlag()
			}
			_, usage := flag.UnquoteUsage(f)
			flags = append(flags, compFlag{name: f.Name, usage: usage, takesValue: !isBool})
		})
	}}
	_ = run(context.Background(), env, nil)
	return flags
}

func names[T any](xs []T, name func(T) string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = name(x)
	}
	return strings.Join(s, " ")
}

func nodeName(n compNode) string { return n.name }

func flagWords(fl []compFlag) string {
	return names(fl, func(f compFlag) string { return "-" + f.name })
}

// withVerbs is the shell pattern of "command verb" pairs: a word after a
// command that takes verbs is its verb only when it names one (`models
// text` names a modality, not a verb).
func withVerbs(tree []compNode) string {
	var ns []string
	for _, n := range tree {
		for _, v := range n.verbs {
			ns = append(ns, fmt.Sprintf("%q", n.name+" "+v.name))
		}
	}
	return strings.Join(ns, "|")
}

// verbsAndArgs are the words after a command that takes verbs: its verbs,
// and the arguments it takes without one.
func verbsAndArgs(n compNode) string {
	return strings.Join(append(strings.Fields(names(n.verbs, nodeName)), n.args...), " ")
}

func writeBash(w io.Writer, tree []compNode) {
	fmt.Fprintf(w, `# bash completion for chorus; source <(chorus completion bash)
_chorus() {
	local cur=${COMP_WORDS[COMP_CWORD]} cmd= verb= arg= w i words=
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		[[ $w == -* ]] && continue
		if [[ -z $cmd ]]; then
			cmd=$w
		elif [[ -z $verb && -z $arg ]]; then
			case "$cmd $w" in %s) verb=$w ;; *) arg=$w ;; esac
		fi
	done
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "%s" -- "$cur"))
		return
	fi
	if [[ -z $verb && -z $arg && $cur != -* ]]; then
		case $cmd in
`, withVerbs(tree), names(tree, nodeName))
	for _, n := range tree {
		if len(n.verbs) > 0 {
			fmt.Fprintf(w, "\t\t%s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", n.name, verbsAndArgs(n))
		}
	}
	fmt.Fprint(w, "\t\tesac\n\tfi\n\tif [[ $cur == -* ]]; then\n\t\tcase \"$cmd $verb\" in\n")
	for _, n := range tree {
		if len(n.verbs) == 0 || len(n.flags) > 0 {
			fmt.Fprintf(w, "\t\t%q) words=%q ;;\n", n.name+" ", flagWords(n.flags))
		}
		for _, v := range n.verbs {
			fmt.Fprintf(w, "\t\t%q) words=%q ;;\n", n.name+" "+v.name, flagWords(v.flags))
		}
	}
	fmt.Fprint(w, "\t\tesac\n\t\tCOMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n\t\treturn\n\tfi\n\tcase \"$cmd $verb\" in\n")
	for _, n := range tree {
		if len(n.args) > 0 {
			fmt.Fprintf(w, "\t%q) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", n.name+" ", strings.Join(n.args, " "))
		}
	}
	fmt.Fprint(w, "\tesac\n}\ncomplete -o default -F _chorus chorus\n")
}

// zshItem is one "name:description" entry of _describe, quoted.
func zshItem(name, desc string) string {
	desc = strings.ReplaceAll(desc, ":", `\:`)
	return shellQuote(strings.ReplaceAll(name, ":", `\:`) + ":" + desc)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func writeZsh(w io.Writer, tree []compNode) {
	fmt.Fprintf(w, `#compdef chorus
# zsh completion for chorus; source <(chorus completion zsh) after compinit
_chorus() {
	local cmd= verb= arg= w i
	local -a items
	for ((i = 2; i < CURRENT; i++)); do
		w=${words[i]}
		[[ $w == -* ]] && continue
		if [[ -z $cmd ]]; then
			cmd=$w
		elif [[ -z $verb && -z $arg ]]; then
			case "$cmd $w" in %s) verb=$w ;; *) arg=$w ;; esac
		fi
	done
	if [[ -z $cmd ]]; then
		items=(`, withVerbs(tree))
	for _, n := range tree {
		fmt.Fprintf(w, "\n\t\t\t%s", zshItem(n.name, n.summary))
	}
	fmt.Fprint(w, "\n\t\t)\n\t\t_describe command items\n\t\treturn\n\tfi\n\tif [[ -z $verb && -z $arg && $PREFIX != -* ]]; then\n\t\tcase $cmd in\n")
	for _, n := range tree {
		if len(n.verbs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\t\t%s)\n\t\t\titems=(", n.name)
		for _, v := range n.verbs {
			fmt.Fprintf(w, " %s", zshItem(v.name, v.summary))
		}
		for _, a := range n.args {
			fmt.Fprintf(w, " %s", zshItem(a, ""))
		}
		fmt.Fprint(w, " )\n\t\t\t_describe verb items\n\t\t\treturn ;;\n")
	}
	fmt.Fprint(w, "\t\tesac\n\tfi\n\tif [[ $PREFIX == -* ]]; then\n\t\tcase \"$cmd $verb\" in\n")
	writeItems := func(key string, fl []compFlag) {
		fmt.Fprintf(w, "\t\t%s) items=(", shellQuote(key))
		for _, f := range fl {
			fmt.Fprintf(w, " %s", zshItem("-"+f.name, f.usage))
		}
		fmt.Fprint(w, " ) ;;\n")
	}
	for _, n := range tree {
		if len(n.verbs) == 0 || len(n.flags) > 0 {
			writeItems(n.name+" ", n.flags)
		}
		for _, v := range n.verbs {
			writeItems(n.name+" "+v.name, v.flags)
		}
	}
	fmt.Fprint(w, "\t\tesac\n\t\t_describe flag items\n\t\treturn\n\tfi\n\tcase \"$cmd $verb\" in\n")
	for _, n := range tree {
		if len(n.args) > 0 {
			fmt.Fprintf(w, "\t%s) compadd %s ;;\n", shellQuote(n.name+" "), strings.Join(n.args, " "))
		}
	}
	fmt.Fprint(w, "\t*) _files ;;\n\tesac\n}\ncompdef _chorus chorus\n")
}

func writeFish(w io.Writer, tree []compNode) {
	fmt.Fprint(w, "# fish completion for chorus; chorus completion fish > ~/.config/fish/completions/chorus.fish\ncomplete -c chorus -f\n")
	for _, n := range tree {
		fmt.Fprintf(w, "complete -c chorus -n __fish_use_subcommand -a %s -d %s\n", n.name, shellQuote(n.summary))
	}
	writeFlags := func(cond string, fl []compFlag) {
		for _, f := range fl {
			// -o is fish's single-dash long option, chorus's own style.
			extra := ""
			if f.takesValue {
				extra = " -r -F"
			}
			fmt.Fprintf(w, "complete -c chorus -n %s -o %s%s -d %s\n", shellQuote(cond), f.name, extra, shellQuote(f.usage))
		}
	}
	for _, n := range tree {
		cond := "__fish_seen_subcommand_from " + n.name
		own := cond // where the command's own arguments and flags complete
		all := names(n.verbs, nodeName)
		if len(n.verbs) > 0 {
			own += "; and not __fish_seen_subcommand_from " + all
		}
		if len(n.args) > 0 {
			fmt.Fprintf(w, "complete -c chorus -n %s -a %s\n", shellQuote(own), shellQuote(strings.Join(n.args, " ")))
		}
		writeFlags(own, n.flags)
		for _, v := range n.verbs {
			fmt.Fprintf(w, "complete -c chorus -n %s -a %s -d %s\n", shellQuote(cond+"; and not __fish_seen_subcommand_from "+all), v.name, shellQuote(v.summary))
			writeFlags(cond+"; and __fish_seen_subcommand_from "+v.name, v.flags)
		}
	}
}
