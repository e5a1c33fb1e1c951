package sqlitestore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// owner is this process's identity among those sharing a database: a
// random id and an exclusive advisory lock (flock) on "<dir>/<id>.lock",
// which the kernel releases when the process dies, however it dies.
type owner struct {
	id   string
	dir  string
	lock *os.File
}

func lockOwner(dir string) (*owner, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	o := &owner{id: hex.EncodeToString(b[:]), dir: dir}
	f, err := os.OpenFile(filepath.Join(dir, o.id+".lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	o.lock = f
	return o, nil
}

// alive reports whether the process that owns id still holds its lock. The
// lock file of a process found dead is removed.
func (o *owner) alive(id string) bool {
	if id == o.id {
		return true
	}
	path := filepath.Join(o.dir, id+".lock")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		return true // cannot tell: leave its jobs alone
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	_ = os.Remove(path)
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

func (o *owner) release() {
	_ = os.Remove(o.lock.Name())
	_ = o.lock.Close()
}
