package supervise

import (
	"os"
	"syscall"
)

// sysProcAttr puts each child in its own process group, so that a Ctrl-C
// at the terminal reaches only the supervisor, which then stops the
// children in order; and asks the kernel to kill the child if the
// supervisor dies without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// kill sends SIGKILL to the child's process group, taking any
// grandchildren with it.
func kill(p *os.Process) error {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		return p.Kill()
	}
	return nil
}
