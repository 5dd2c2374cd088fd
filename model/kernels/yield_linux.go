package kernels

import "syscall"

// osYield gives the core to another runnable thread, if any: a spinning
// pool thread must not keep the thread it waits for off the CPU when the
// machine has fewer free cores than threads.
func osYield() { syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
