package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPUUse is the CPU time spent during some windows of wall time: by this process (for the
// fan-out row: the admission handler and engine under test, and the bed's in-process registry
// front and token service), by the distribution registry process, and by the whole machine
// (every process, including whatever else shares it). Machine over Wall near the number of
// CPUs means the windows were CPU-bound: their wall time then measures the machine, not
// round trips.
type CPUUse struct {
	Wall, Self, Registry, Machine time.Duration
}

// Cores is the machine's average busy CPUs during the windows.
func (u CPUUse) Cores() float64 { return float64(u.Machine) / float64(max(u.Wall, 1)) }

func (u CPUUse) String() string {
	return fmt.Sprintf("wall %s: this process %s, registry %s, machine %s (%.2f CPUs busy)",
		ms(u.Wall), ms(u.Self), ms(u.Registry), ms(u.Machine), u.Cores())
}

// cpuSample is the CPU time used so far by this process, the registry and the machine.
type cpuSample struct {
	at                      time.Time
	self, registry, machine time.Duration
}

// sampleCPU reads this process's CPU time from getrusage (microseconds), the registry's from
// /proc/<pid>/stat and the machine's busy time from /proc/stat (both in ticks of 10 ms: over
// many windows the rounding averages out). Each is one read: a sample costs tens of
// microseconds, not the milliseconds of reading every thread's /proc/<pid>/task/*/schedstat.
func sampleCPU(registryPID int) (cpuSample, error) {
	s := cpuSample{at: time.Now()}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return s, fmt.Errorf("getrusage: %w", err)
	}
	s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	var err error
	if s.registry, err = processCPU(registryPID); err != nil {
		return s, err
	}
	s.machine, err = machineCPU()
	return s, err
}

// add adds the window from a to b.
func (u *CPUUse) add(a, b cpuSample) {
	u.Wall += b.at.Sub(a.at)
	u.Self += b.self - a.self
	u.Registry += b.registry - a.registry
	u.Machine += b.machine - a.machine
}

// userHZ is the unit of /proc's CPU counters: USER_HZ, 100 on every Linux architecture Go
// supports.
const userHZ = 100

func ticks(field string) (time.Duration, error) {
	n, err := strconv.ParseInt(field, 10, 64)
	return time.Duration(n) * time.Second / userHZ, err
}

// processCPU is the user and system time of every thread of pid (/proc/<pid>/stat utime and
// stime, fields 14 and 15).
func processCPU(pid int) (time.Duration, error) {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading the CPU time of process %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces and parentheses; the fields after it start
	// past its last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: %q has no command name", path, b)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("%s: %q has no utime and stime", path, b)
	}
	// fields[0] is field 3 (state): utime and stime are fields[11] and fields[12].
	var total time.Duration
	for _, f := range fields[11:13] {
		d, err := ticks(f)
		if err != nil {
			return 0, fmt.Errorf("parsing %s: %w", path, err)
		}
		total += d
	}
	return total, nil
}

// machineCPU is the busy time of all CPUs (user, nice, system, irq, softirq, steal) since boot.
func machineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("reading the machine's CPU time: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat starts with %q, want the cpu line", line)
	}
	var total time.Duration
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		d, err := ticks(fields[i])
		if err != nil {
			return 0, fmt.Errorf("parsing /proc/stat field %d %q: %w", i, fields[i], err)
		}
		total += d
	}
	return total, nil
}
