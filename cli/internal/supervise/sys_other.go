//go:build !linux

package supervise

import (
	"os"
	"syscall"
)

// sysProcAttr leaves the children in the supervisor's process group where
// Linux's process-group and parent-death settings are not available.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func kill(p *os.Process) error { return p.Kill() }
