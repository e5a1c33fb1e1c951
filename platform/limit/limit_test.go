package limit

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAcquire(t *testing.T) {
	l := New(1, 1)
	release, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatalf("first Acquire: %v", err)
	}

	// One caller may wait; it gets the slot once the holder releases.
	got := make(chan error, 1)
	go func() {
		r, err := l.Acquire(context.Background())
		if err == nil {
			r()
		}
		got <- err
	}()
	for l.Waiting() != 1 {
		// Spin until the goroutine is queued; Waiting is the observable.
	}
	// A second waiter finds the queue full at once.
	if _, err := l.Acquire(context.Background()); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Acquire with a full queue = %v, want ErrQueueFull", err)
	}
	release()
	if err := <-got; err != nil {
		t.Fatalf("queued Acquire: %v", err)
	}
	if l.InUse() != 0 || l.Waiting() != 0 {
		t.Fatalf("after release: InUse=%d Waiting=%d, want 0 0", l.InUse(), l.Waiting())
	}
}

func TestAcquireCanceledWhileWaiting(t *testing.T) {
	l := New(1, 4)
	release, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := l.Acquire(ctx)
		got <- err
	}()
	for l.Waiting() != 1 {
	}
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire after cancel = %v, want context.Canceled", err)
	}
	if l.Waiting() != 0 {
		t.Fatalf("Waiting = %d after the waiter left, want 0", l.Waiting())
	}
}

func TestNoQueue(t *testing.T) {
	l := New(0, -1) // clamped to 1 slot, no queue
	release, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(context.Background()); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("second Acquire = %v, want ErrQueueFull", err)
	}
	release()
	if _, err := New(1, 0).Acquire(canceled()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire on a canceled context = %v, want context.Canceled", err)
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
