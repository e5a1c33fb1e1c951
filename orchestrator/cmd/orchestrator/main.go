// Command orchestrator serves chorus.orchestrator.v1.OrchestratorService: it
// runs declarative multi-modal pipelines over the text, image and audio
// services, synchronously or as durable jobs. Its flags and their CHORUS_*
// variables are the service package's (Config.RegisterFlags).
package main

import (
	"github.com/chorus-ai/chorus/platform/app"

	"github.com/chorus-ai/chorus/orchestrator/internal/service"
)

func main() { app.Serve("orchestrator", service.DefaultConfig(), service.New) }
