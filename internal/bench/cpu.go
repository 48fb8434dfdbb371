package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// sampleCPU reads the processes' on-CPU time from /proc/<pid>/task/*/schedstat (nanoseconds,
// every thread) and the machine's busy time from /proc/stat.
func sampleCPU(registryPID int) (cpuSample, error) {
	s := cpuSample{at: time.Now()}
	var err error
	if s.self, err = processCPU(os.Getpid()); err != nil {
		return s, err
	}
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

// processCPU sums the on-CPU time of every thread of pid. A thread that exits between the
// listing and the read is left out: Go runtimes keep their threads.
func processCPU(pid int) (time.Duration, error) {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(stats) == 0 {
		return 0, fmt.Errorf("reading the CPU time of process %d: no /proc/%d/task/*/schedstat", pid, pid)
	}
	var total time.Duration
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		first, _, _ := strings.Cut(string(b), " ")
		ns, err := strconv.ParseInt(first, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing %s: %w", path, err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}

// userHZ is the unit of /proc/stat's counters: USER_HZ, 100 on every Linux architecture Go
// supports.
const userHZ = 100

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
	var ticks int64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing /proc/stat field %d %q: %w", i, fields[i], err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}
