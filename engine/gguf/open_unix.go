//go:build unix

package gguf

import (
	"fmt"
	"os"
	"syscall"
)

// Open memory-maps the file at path read-only and parses it. Tensor data stay in the page cache
// rather than the Go heap; Close unmaps them. Every count and length in the file is checked
// against the mapping's size before it is used to read or allocate. A file that shrinks while
// mapped makes later reads of its tensors fault: read them under Guard (or SetPanicOnFault and
// Fault) to get ErrFault instead of SIGBUS.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close() // the mapping outlives the descriptor
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < 24 {
		return nil, fmt.Errorf("%s: %w: %d bytes", path, ErrTruncated, size)
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: %w: %d bytes do not fit the address space", path, ErrOutOfRange, size)
	}
	data, err := syscall.Mmap(int(fh.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	// The size was checked against the mapping, but the file may shrink
	// between Stat and the reads of Parse: that is ErrFault, not SIGBUS.
	var f *File
	err = Guard(func() (err error) {
		f, err = Parse(data)
		return err
	})
	if err != nil {
		_ = syscall.Munmap(data)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.unmap = func() error { return syscall.Munmap(data) }
	return f, nil
}
