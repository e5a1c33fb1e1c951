// Command reliability rewrites the figures section of docs/RELIABILITY.md from the logs of
// `make reliability`: the verbose output of the e2e fault, load and hostile-request tests
// (each figure a "figure: ..." line a test logged, each test's result and time) and the
// output of `make fuzz` (each target's executions and corpus).
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// The figures section lies between these markers; everything else of the page is kept.
const (
	begin = "<!-- figures: begin (written by make reliability; edits here are lost) -->"
	end   = "<!-- figures: end -->"
)

var (
	figureLine = regexp.MustCompile(`^\s+\S+\.go:\d+: figure: (.*)$`)
	resultLine = regexp.MustCompile(`^(\s*)--- (PASS|FAIL|SKIP): (\S+) \(([\d.]+)s\)$`)
	fuzzStart  = regexp.MustCompile(`^go test -fuzz=(\S+) (\S+)$`)
	fuzzStatus = regexp.MustCompile(`^fuzz: elapsed: (\d+)s, execs: (\d+) .*\(total: (\d+)\)`)
	fuzzEnd    = regexp.MustCompile(`^(ok|FAIL|---\s+FAIL)\s`)
)

func main() {
	e2eLog := flag.String("e2e", "out/reliability/e2e.log", "verbose `log` of the e2e tests")
	fuzzLog := flag.String("fuzz", "out/reliability/fuzz.log", "`log` of make fuzz")
	doc := flag.String("doc", "docs/RELIABILITY.md", "the `page` to rewrite")
	fuzzTime := flag.String("fuzztime", "", "FUZZTIME of the run, for the heading")
	flag.Parse()
	if err := run(*e2eLog, *fuzzLog, *doc, *fuzzTime); err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		os.Exit(1)
	}
}

func run(e2eLog, fuzzLog, doc, fuzzTime string) error {
	e2e, err := os.ReadFile(e2eLog)
	if err != nil {
		return err
	}
	fuzz, err := os.ReadFile(fuzzLog)
	if err != nil {
		return err
	}
	page, err := os.ReadFile(doc)
	if err != nil {
		return err
	}
	section := figures(e2e, fuzz, fuzzTime)
	i, j := bytes.Index(page, []byte(begin)), bytes.Index(page, []byte(end))
	if i < 0 || j < i {
		return errors.New(doc + ": no figures markers")
	}
	out := append(append(append([]byte{}, page[:i]...), section...), page[j+len(end):]...)
	return os.WriteFile(doc, out, 0o644)
}

// figures writes the section, markers included.
func figures(e2e, fuzz []byte, fuzzTime string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nRun of %s on %d CPUs (load average %s at its end).\n\n", begin,
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), loadAverage())
	b.WriteString("| Test | Result | Time |\n|---|---|---|\n")
	var figs []string
	sc := bufio.NewScanner(bytes.NewReader(e2e))
	sc.Buffer(make([]byte, 0, 1<<16), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := figureLine.FindStringSubmatch(line); m != nil {
			figs = append(figs, m[1])
		}
		if m := resultLine.FindStringSubmatch(line); m != nil {
			fmt.Fprintf(&b, "| `%s` | %s | %s s |\n", m[3], m[2], m[4])
		}
	}
	b.WriteString("\n")
	for _, f := range figs {
		fmt.Fprintf(&b, "- %s\n", f)
	}
	heading := "Fuzzing"
	if fuzzTime != "" {
		heading += " (" + fuzzTime + " per target)"
	}
	fmt.Fprintf(&b, "\n%s:\n\n| Target | Package | Seconds | Executions | Corpus | Result |\n|---|---|---|---|---|---|\n", heading)
	var target, pkg, secs, execs, corpus string
	sc = bufio.NewScanner(bytes.NewReader(fuzz))
	for sc.Scan() {
		line := sc.Text()
		switch m := fuzzStart.FindStringSubmatch(line); {
		case m != nil:
			target, pkg, secs, execs, corpus = m[1], strings.TrimPrefix(m[2], "./"), "", "", ""
		case target == "":
		case fuzzStatus.MatchString(line):
			s := fuzzStatus.FindStringSubmatch(line)
			secs, execs, corpus = s[1], s[2], s[3]
		case fuzzEnd.MatchString(line):
			result := "no failure"
			if !strings.HasPrefix(line, "ok") {
				result = "**FAILED**"
			}
			fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s | %s |\n", target, pkg, secs, execs, corpus, result)
			target = ""
		}
	}
	b.WriteString("\n" + end)
	return b.String()
}

// loadAverage is the one-minute load average, or "unknown" off Linux.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}
