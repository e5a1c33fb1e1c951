package main

import (
	"os/exec"
	"syscall"
)

// setParentDeath has the kernel kill llama-server if this process dies without stopping it.
func setParentDeath(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
