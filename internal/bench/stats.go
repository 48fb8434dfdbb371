package bench

import (
	"math"
	"slices"
	"time"
)

// Latencies are the durations of repeated operations.
type Latencies []time.Duration

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100), or 0 without samples.
func (l Latencies) Percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// P50 and P99 are the usual percentiles.
func (l Latencies) P50() time.Duration { return l.Percentile(50) }
func (l Latencies) P99() time.Duration { return l.Percentile(99) }

// Max is the slowest sample.
func (l Latencies) Max() time.Duration { return l.Percentile(100) }

// ratio is a/b, or +Inf when b is zero.
func ratio[T ~int64 | ~float64 | ~int](a, b T) float64 {
	if b == 0 {
		return math.Inf(1)
	}
	return float64(a) / float64(b)
}

// ms formats a duration in milliseconds with two decimals' precision where it matters.
func ms(d time.Duration) string {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}
