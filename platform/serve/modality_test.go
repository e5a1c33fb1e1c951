package serve

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/chorus-ai/chorus/platform/genai"
)

type closer struct{ closed int }

// closing builds no routes and c as the one closer.
func closing(c *closer) Routes {
	return func() ([]genai.Route, []io.Closer, error) { return nil, []io.Closer{c}, nil }
}

func (c *closer) Close() error { c.closed++; return nil }

// The modality server owns its closers: closed once Run returns, and at
// once when it cannot be built.
func TestModalityClosesItsBackends(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	ok := ModalityConfig{Config: Config{Addr: "127.0.0.1:0"}, Concurrency: 1, Queue: 1}

	var failed closer
	bad := ok
	bad.Addr = "nowhere"
	if _, err := NewModality(bad, genai.Text, quiet, closing(&failed)); err == nil || failed.closed != 1 {
		t.Errorf("NewModality with a bad address: error %v, closed %d times", err, failed.closed)
	}

	var c closer
	s, err := NewModality(ok, genai.Text, quiet, closing(&c))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); err != nil || c.closed != 1 {
		t.Errorf("Run: %v, closed %d times", err, c.closed)
	}
}
