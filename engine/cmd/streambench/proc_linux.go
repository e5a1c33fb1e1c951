package main

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// setParentDeath has the kernel kill llama-server if this process dies without stopping it.
func setParentDeath(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// selfCPU is this process's CPU time so far, user and system, all threads.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pidCPU is process pid's CPU time so far, user and system, from /proc; 0 when it cannot be read.
func pidCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	d, err := parseStatCPU(string(b))
	if err != nil {
		return 0
	}
	return d
}
