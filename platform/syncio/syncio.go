// Package syncio provides a writer that several goroutines may share: child
// processes' output merged into one stream, logs a test reads while servers
// write them.
package syncio

import (
	"bytes"
	"io"
	"sync"
)

// Writer serialises writes to an underlying writer, so that each Write
// reaches it whole. The zero Writer writes to a buffer of its own, which
// String returns: a bytes.Buffer safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer // nil: buf
	buf bytes.Buffer
}

// NewWriter returns a Writer that passes writes to w one at a time.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write writes p to the underlying writer while no other Write runs.
func (s *Writer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return s.buf.Write(p)
	}
	return s.w.Write(p)
}

// String returns everything written so far to a zero Writer's own buffer,
// and "" for a Writer made by NewWriter.
func (s *Writer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
