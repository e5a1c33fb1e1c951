package quant

import "golang.org/x/sys/unix"

// threadCPU is the calling thread's CPU time in nanoseconds: on a shared
// machine, time spent descheduled does not count, so kernels compare on
// the cycles they use (the caller locks its goroutine to the thread).
func threadCPU() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return ts.Nano()
}
