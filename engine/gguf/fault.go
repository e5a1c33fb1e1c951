package gguf

import (
	"errors"
	"fmt"
	"runtime/debug"
)

// ErrFault reports a read of a mapped file that faulted: the file shrank (was truncated or
// rewritten in place) after Open, so the pages behind part of the mapping are gone. Without
// debug.SetPanicOnFault such a read raises SIGBUS and kills the process.
var ErrFault = errors.New("gguf: reading the mapped file faulted (truncated or rewritten while open)")

// Fault returns an error wrapping ErrFault when recovered, a value from recover, is the
// memory fault the runtime raises on a goroutine that set debug.SetPanicOnFault, and nil
// for any other value. Code that reads tensor bytes of an opened File (a model's forward
// pass) sets SetPanicOnFault on its goroutines and recovers, so a model file replaced under a
// running server fails that call instead of the process.
func Fault(recovered any) error {
	// The runtime's fault panics are runtime.Errors with the faulting address.
	if e, ok := recovered.(interface {
		error
		RuntimeError()
		Addr() uintptr
	}); ok {
		return fmt.Errorf("%w: %v at %#x", ErrFault, e, e.Addr())
	}
	return nil
}

// Guard runs fn with faults on this goroutine turned into ErrFault; any other panic goes on.
func Guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if err = Fault(p); err == nil {
				panic(p)
			}
		}
	}()
	return fn()
}
