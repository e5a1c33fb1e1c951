package chromemstore_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/chorus-ai/chorus/orchestrator/internal/collection"
	"github.com/chorus-ai/chorus/orchestrator/internal/collection/chromemstore"
	"github.com/chorus-ai/chorus/orchestrator/internal/collection/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStore(t *testing.T) {
	var dir string
	storetest.Run(t, func(t *testing.T, fresh bool) collection.Store {
		if fresh {
			dir = t.TempDir()
		}
		s, err := chromemstore.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
