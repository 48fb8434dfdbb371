package testbed

import "syscall"

// childProcAttr puts a child in its own process group, as envtest does for etcd and
// kube-apiserver, so a Ctrl-C at the terminal reaches only the parent, which then stops it in
// order; and makes the kernel kill it when the parent dies without running Stop (a panic, a go
// test timeout), so no registry outlives its test.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
