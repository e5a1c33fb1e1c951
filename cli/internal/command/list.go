package command

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/encoding/protojson"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
)

// Pipelines lists the pipelines the gateway can run.
func Pipelines(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "pipelines", "[flags]", "Lists the pipelines the orchestrator can run, with their inputs and outputs.")
	gateway := gatewayFlag(env, fs)
	asJSON := jsonFlag(fs)
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError(env, fs, "unexpected arguments %q", pos)
	}
	c, closeConns, err := newClient(env, *gateway)
	if err != nil {
		return err
	}
	defer closeConns()
	ps, err := c.ListPipelines(ctx)
	if err != nil {
		return unreachable(err, *gateway)
	}
	if *asJSON {
		return writeJSON(env.Stdout, &orchestratorv1.ListPipelinesResponse{Pipelines: ps})
	}
	for _, p := range ps {
		fmt.Fprintf(env.Stdout, "%s\n  %s\n", p.GetName(), p.GetDescription())
		for _, in := range p.GetInputs() {
			req := ""
			if in.GetRequired() {
				req = " (required)"
			} else if in.GetDefaultValue() != "" {
				req = fmt.Sprintf(" (default %q)", in.GetDefaultValue())
			}
			fmt.Fprintf(env.Stdout, "  input  %s%s: %s\n", in.GetName(), req, in.GetDescription())
		}
		for _, o := range p.GetOutputs() {
			fmt.Fprintf(env.Stdout, "  output %s (%s): %s\n", o.GetName(), o.GetMimeType(), o.GetDescription())
		}
	}
	return nil
}

// Models lists the models of each modality service, or runs one of
// modelVerbs on the models directory.
func Models(ctx context.Context, env Env, args []string) error {
	if len(args) > 0 && slices.ContainsFunc(modelVerbs, func(v subcommand) bool { return v.name == args[0] }) {
		return dispatch(ctx, env, "models", "add|list|rm [flags]", modelVerbs, args)
	}
	fs := newFlags(env, "models", "[text|image|audio ...] [flags]", "Lists the models each modality service serves; the default model is marked *.\n\n"+
		"`chorus models add|list|rm` manage the GGUF files of a models directory instead.")
	gateway := gatewayFlag(env, fs)
	verbose := fs.Bool("v", false, "also print each model's description")
	asJSON := jsonFlag(fs)
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		pos = []string{"text", "image", "audio"}
	}
	for _, m := range pos {
		if m != "text" && m != "image" && m != "audio" {
			return usageError(env, fs, "unknown modality %q (want text, image or audio)", m)
		}
	}
	c, closeConns, err := newClient(env, *gateway)
	if err != nil {
		return err
	}
	defer closeConns()
	if *asJSON {
		// One object keyed by modality, each a ListModelsResponse.
		all := map[string]json.RawMessage{}
		for _, m := range pos {
			models, err := c.ListModels(ctx, m)
			if err != nil {
				return fmt.Errorf("%s: %w", m, unreachable(err, *gateway))
			}
			b, err := protojson.Marshal(&genaiv1.ListModelsResponse{Models: models})
			if err != nil {
				return err
			}
			all[m] = b
		}
		return writeJSON(env.Stdout, all)
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 8, 2, ' ', 0)
	var descriptions []string
	fmt.Fprintln(tw, "MODALITY\tMODEL\tBACKEND\tVOICES")
	for _, m := range pos {
		models, err := c.ListModels(ctx, m)
		if err != nil {
			return fmt.Errorf("%s: %w", m, unreachable(err, *gateway))
		}
		if len(models) == 0 {
			fmt.Fprintf(tw, "%s\t(none: no backend configured)\t\t\n", m)
		}
		for _, md := range models {
			name := md.GetName()
			if md.GetDefault() {
				name += " *"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m, name, md.GetBackend(), voices(md.GetVoices()))
			if d := md.GetDescription(); d != "" {
				descriptions = append(descriptions, fmt.Sprintf("%s %s: %s", m, md.GetName(), d))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if *verbose && len(descriptions) > 0 {
		fmt.Fprintf(env.Stdout, "\n%s\n", strings.Join(descriptions, "\n"))
	}
	return nil
}

// voices lists a model's voices, the first few of a long list.
func voices(vs []string) string {
	const show = 6
	if len(vs) > show {
		return fmt.Sprintf("%s, ... (%d in all)", strings.Join(vs[:show], ", "), len(vs))
	}
	return strings.Join(vs, ", ")
}
