package embedded

import (
	"log/slog"
	"time"

	"github.com/chorus-ai/chorus/engine"
	"github.com/chorus-ai/chorus/engine/imagegen"
	"github.com/chorus-ai/chorus/platform/modeldir"
)

// opener loads a file of the models directory as a text model, declining
// the image and embedding models the image and embedding services serve
// from the same directory.
func opener(cfg Config) modeldir.Opener[*Backend] {
	return func(p string) (*Backend, bool, error) {
		if image, _ := imagegen.IsImageModel(p); image {
			return nil, false, nil // the image service's (chorus-pixels), not a text model
		}
		if embedding, _ := engine.IsEmbeddingModel(p); embedding {
			return nil, false, nil // the embedding service's (chorus-embed)
		}
		b, err := Open(p, cfg)
		return b, err == nil, err
	}
}

// WatchDir loads the text models in dir as OpenDir does, then follows the
// directory every rescan (never when 0) while the service runs: added and
// changed files load, removed ones are unloaded once their requests end.
// Serve it as a genai.Route with Dynamic set.
func WatchDir(dir string, cfg Config, rescan time.Duration, log *slog.Logger) (*modeldir.Dir[*Backend], error) {
	return modeldir.Open(dir, opener(cfg), rescan, log)
}
