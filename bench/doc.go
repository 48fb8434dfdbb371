// Package bench holds pullguard's benchmark entry points: the Go benchmarks (`go test
// -bench=. ./bench/`, benchstat format) and cmd/benchtable, the table of ratios `make bench`
// prints. The measurements themselves are in internal/bench, shared with e2e/resilience.
package bench
