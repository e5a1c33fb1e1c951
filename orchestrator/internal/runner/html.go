package runner

import (
	"bytes"
	"encoding/base64"
	"html/template"
	"strings"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// pageTemplate is the "html" assembly: the text in paragraphs, then each
// image inline (a data: URI), so that the page is one file that needs
// nothing else. html/template escapes the text and checks the URIs.
var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { max-width: 42rem; margin: 2rem auto; padding: 0 1rem; font: 1.1rem/1.6 Georgia, serif; color: #222; }
figure { margin: 2rem 0; text-align: center; }
figure img { max-width: 100%; height: auto; image-rendering: auto; border-radius: 4px; }
figcaption { font-size: 0.9rem; color: #555; margin-top: 0.5rem; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{range .Paragraphs}}<p>{{.}}</p>
{{end}}{{range .Figures}}<figure>
<img src="{{.Src}}" alt="{{.Caption}}">
<figcaption>{{.Caption}}</figcaption>
</figure>
{{end}}</body>
</html>
`))

type figure struct {
	Src     template.URL
	Caption string
}

// page makes an "html" output from a text step's result and an image
// step's.
// The page's title is the run's topic input, if it has one.
func page(o *pipeline.Output, p *pipeline.Pipeline, inputs map[string]string, text, images result) ([]*orchestratorv1.RunOutput, error) {
	data := struct {
		Title      string
		Paragraphs []string
		Figures    []figure
	}{Title: p.Name}
	if topic := strings.TrimSpace(inputs["topic"]); topic != "" {
		data.Title = rpcerr.Clip(strings.ToUpper(topic[:1])+topic[1:], 120)
	}
	for _, para := range strings.Split(text.text, "\n\n") {
		if para = strings.Join(strings.Fields(para), " "); para != "" {
			data.Paragraphs = append(data.Paragraphs, para)
		}
	}
	for _, a := range images.artifacts {
		mime := a.GetMimeType()
		if !strings.HasPrefix(mime, "image/") {
			return nil, rpcerr.New(codes.Internal, ReasonBadOutput, "output "+o.Name+": the image service returned "+rpcerr.Clip(mime, 40)+", not an image")
		}
		data.Figures = append(data.Figures, figure{
			// The MIME type was checked, and base64 has no character that
			// needs escaping in an attribute.
			Src:     template.URL("data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(a.GetData())),
			Caption: a.GetMetadata().GetSourceText(),
		})
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, data); err != nil {
		return nil, rpcerr.New(codes.Internal, ReasonPipeline, "output "+o.Name+": the page did not render").WithCause(err)
	}
	a := &genaiv1.Artifact{MimeType: o.MimeType, Content: &genaiv1.Artifact_Data{Data: b.Bytes()}}
	genai.FillDigest(a)
	return []*orchestratorv1.RunOutput{{Name: o.Name, Artifact: a}}, nil
}
