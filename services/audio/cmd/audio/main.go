// Command audio serves chorus.genai.v1.AudioService: speech synthesis with
// Flite (linked in) and espeak-ng (run as a process, when installed). Its
// flags and their CHORUS_* variables are the server package's
// (Config.RegisterFlags).
package main

import (
	"github.com/chorus-ai/chorus/platform/app"

	"github.com/chorus-ai/chorus/services/audio/internal/server"
)

func main() { app.Serve("audio", server.DefaultConfig(), server.New) }
