// Command gateway serves the Chorus APIs as REST and NDJSON over HTTP, in
// front of the text, image, audio and orchestrator gRPC services. Its flags
// and their CHORUS_* variables are the gateway package's
// (ServerConfig.RegisterFlags).
package main

import (
	"github.com/chorus-ai/chorus/platform/app"

	"github.com/chorus-ai/chorus/gateway/internal/gateway"
)

func main() { app.Serve("gateway", gateway.DefaultServerConfig(), gateway.NewServer) }
