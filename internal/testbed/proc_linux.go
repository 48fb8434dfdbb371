package testbed

import "syscall"

// childProcAttr makes the kernel kill a child when the test process dies without running Stop
// (a panic, a go test timeout), so no registry outlives its test.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
