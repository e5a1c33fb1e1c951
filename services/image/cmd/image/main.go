// Command image serves chorus.genai.v1.ImageService over gRPC. Its flags
// and their CHORUS_* variables are the server package's
// (Config.RegisterFlags).
package main

import (
	"github.com/chorus-ai/chorus/platform/app"

	"github.com/chorus-ai/chorus/services/image/internal/server"
)

func main() { app.Serve("image", server.DefaultConfig(), server.New) }
