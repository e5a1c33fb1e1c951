// Command text serves chorus.genai.v1.TextService over gRPC. Its flags and
// their CHORUS_* variables are the server package's (Config.RegisterFlags).
package main

import (
	"github.com/chorus-ai/chorus/platform/app"

	"github.com/chorus-ai/chorus/services/text/internal/server"
)

func main() { app.Serve("text", server.DefaultConfig(), server.New) }
