package embedded

import (
	"errors"
	"log/slog"
	"time"

	"github.com/chorus-ai/chorus/engine/imagegen"
	"github.com/chorus-ai/chorus/platform/modeldir"
)

// opener loads a file of the models directory as an image model, declining
// the text models beside it.
func opener(cfg Config) modeldir.Opener[*Backend] {
	return func(p string) (*Backend, bool, error) {
		b, err := Open(p, cfg)
		if errors.Is(err, imagegen.ErrNotImageModel) {
			return nil, false, nil
		}
		return b, err == nil, err
	}
}

// WatchDir loads the image models in dir as OpenDir does, then follows the
// directory every rescan (never when 0) while the service runs: added and
// changed files load, removed ones are unloaded once their requests end.
// Serve it as a genai.Route with Dynamic set.
func WatchDir(dir string, cfg Config, rescan time.Duration, log *slog.Logger) (*modeldir.Dir[*Backend], error) {
	return modeldir.Open(dir, opener(cfg), rescan, log)
}
