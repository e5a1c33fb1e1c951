// Package modeldir serves the model files of a directory and follows it
// while the service runs, so that models added or removed there are served
// or dropped without a restart.
package modeldir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Model is one loaded file: a backend that serves exactly one model, named
// after the file without its extension.
type Model interface {
	genai.Backend
	io.Closer
}

// Opener loads the file at path, or declines it (ok false: a model
// another service serves from the same directory).
type Opener[M Model] func(path string) (m M, ok bool, err error)

// DefaultRescan is how often a service looks for added and removed files.
const DefaultRescan = 2 * time.Second

// Dir serves every model file (*.gguf) in a directory that its Opener
// takes, named after the file, and follows the directory while it runs:
// every rescan interval it loads new files, reloads changed ones, and
// unloads removed ones once their running requests finish. A file that
// fails to load is logged and skipped until it changes (a copy still being
// written loads once it is complete). Serve it as a genai.Route with
// Dynamic set.
type Dir[M Model] struct {
	dir  string
	open Opener[M]
	log  *slog.Logger

	mu     sync.RWMutex
	models map[string]*dirModel[M] // by model name
	list   []*genaiv1.Model        // the models' descriptions, in name order
	failed map[string]stamp        // files that did not load, as they were then

	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	closing sync.WaitGroup // removed models closing once their requests end
}

// stamp tells a file's versions apart.
type stamp struct {
	size int64
	mod  time.Time
}

func stampOf(fi os.FileInfo) stamp { return stamp{fi.Size(), fi.ModTime()} }

// dirModel is one loaded file; running counts the requests using it, so
// that a removed model closes only once they end.
type dirModel[M Model] struct {
	b       M
	name    string
	path    string
	stamp   stamp
	running sync.WaitGroup
}

// Open loads the models in dir, in name order, failing on a file that does
// not load, then rescans dir every rescan (never when 0) until Close. A
// missing or empty directory is not an error: it serves nothing until
// files appear.
func Open[M Model](dir string, open Opener[M], rescan time.Duration, log *slog.Logger) (*Dir[M], error) {
	d := &Dir[M]{dir: dir, open: open, log: log, models: map[string]*dirModel[M]{}, failed: map[string]stamp{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := d.scan(true); err != nil {
		d.closeModels()
		return nil, err
	}
	if rescan <= 0 {
		close(d.done)
		return d, nil
	}
	go d.watch(rescan)
	return d, nil
}

func (d *Dir[M]) watch(every time.Duration) {
	defer close(d.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			if err := d.scan(false); err != nil {
				d.log.Warn("rescanning the models directory", "models_dir", d.dir, "err", err)
			}
		}
	}
}

// Rescan looks at the directory now rather than at the next tick.
func (d *Dir[M]) Rescan() error { return d.scan(false) }

// scan brings the loaded models in line with the directory. strict makes
// a file that fails to load an error (at start) rather than a log line.
func (d *Dir[M]) scan(strict bool) error {
	paths, err := filepath.Glob(filepath.Join(d.dir, "*.gguf"))
	if err != nil {
		return err
	}
	slices.Sort(paths)
	seen := map[string]bool{}
	var added []*dirModel[M]
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			continue // removed since the glob
		}
		name := modelName(p)
		seen[name] = true
		st := stampOf(fi)
		d.mu.RLock()
		cur, loaded := d.models[name]
		failedAs, failed := d.failed[p]
		d.mu.RUnlock()
		if (loaded && cur.stamp == st) || (failed && failedAs == st) {
			continue
		}
		b, ok, err := d.open(p)
		switch {
		case err != nil && strict:
			for _, m := range added {
				m.b.Close()
			}
			return err
		case err != nil:
			d.log.Error("skipping a model file that does not load; it is tried again when it changes", "path", p, "err", err)
			d.setFailed(p, st)
			continue
		case !ok:
			d.setFailed(p, st) // another service's; looked at again only if it changes
			continue
		}
		m := b.Models()[0]
		d.log.Info("model loaded", "model", name, "quantization", m.GetQuantization(), "context", m.GetContextLength(), "reload", loaded)
		added = append(added, &dirModel[M]{b: b, name: name, path: p, stamp: st})
	}

	d.mu.Lock()
	var gone []*dirModel[M]
	for _, m := range added {
		if old, ok := d.models[m.name]; ok {
			gone = append(gone, old)
		}
		d.models[m.name] = m
		delete(d.failed, m.path)
	}
	for name, m := range d.models {
		if !seen[name] {
			gone = append(gone, m)
			delete(d.models, name)
		}
	}
	for p := range d.failed {
		if !seen[modelName(p)] {
			delete(d.failed, p)
		}
	}
	d.list = d.list[:0:0]
	for _, m := range d.models {
		d.list = append(d.list, m.b.Models()...)
	}
	slices.SortFunc(d.list, func(a, b *genaiv1.Model) int { return strings.Compare(a.GetName(), b.GetName()) })
	d.mu.Unlock()

	for _, m := range gone {
		if _, still := seen[m.name]; !still {
			d.log.Info("model removed", "model", m.name)
		}
		d.closing.Go(func() {
			m.running.Wait()
			if err := m.b.Close(); err != nil {
				d.log.Warn("closing an unloaded model", "model", m.name, "err", err)
			}
		})
	}
	return nil
}

func (d *Dir[M]) setFailed(p string, st stamp) {
	d.mu.Lock()
	d.failed[p] = st
	d.mu.Unlock()
}

func modelName(p string) string {
	base := filepath.Base(p)
	return base[:len(base)-len(filepath.Ext(base))]
}

// Models lists the models loaded now, in name order.
func (d *Dir[M]) Models() []*genaiv1.Model {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.list
}

// Concurrency is how many requests model runs at once when its backend
// says so with a Slots method (the text engine's batch slots), else 0:
// the route's limit (genai.Route.Dynamic).
func (d *Dir[M]) Concurrency(model string) int {
	d.mu.RLock()
	m, ok := d.models[model]
	d.mu.RUnlock()
	if !ok {
		return 0
	}
	if s, ok := any(m.b).(interface{ Slots() int }); ok {
		return s.Slots()
	}
	return 0
}

// Generate runs req on the model it names, holding the model loaded until
// it returns.
func (d *Dir[M]) Generate(ctx context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	d.mu.RLock()
	m, ok := d.models[req.GetModel()]
	if ok {
		m.running.Add(1) // under the read lock: a removal cannot Wait in between
	}
	d.mu.RUnlock()
	if !ok {
		return nil, rpcerr.New(codes.NotFound, rpcerr.ReasonModelNotFound,
			fmt.Sprintf("model %q was removed from the models directory", rpcerr.Clip(req.GetModel(), 32))).
			WithMetadata("model", rpcerr.Clip(req.GetModel(), 32))
	}
	defer m.running.Done()
	return m.b.Generate(ctx, req, emit)
}

// Close stops rescanning and closes every model, waiting for running
// generations.
func (d *Dir[M]) Close() error {
	d.once.Do(func() { close(d.stop) })
	<-d.done
	err := d.closeModels()
	d.closing.Wait()
	return err
}

func (d *Dir[M]) closeModels() error {
	d.mu.Lock()
	ms := d.models
	d.models, d.list = map[string]*dirModel[M]{}, nil
	d.mu.Unlock()
	var errs []error
	for _, m := range ms {
		m.running.Wait()
		errs = append(errs, m.b.Close())
	}
	return errors.Join(errs...)
}
