// Command embed serves chorus.genai.v1.EmbeddingService over gRPC. Its flags and
// their CHORUS_* variables are the server package's (Config.RegisterFlags).
package main

import (
	"github.com/chorus-ai/chorus/platform/app"

	"github.com/chorus-ai/chorus/services/embed/internal/server"
)

func main() { app.Serve("embed", server.DefaultConfig(), server.New) }
