// Package bench measures pullguard against baselines measured in the same run: admission
// throughput over TLS against a no-op handler on the same server, memory with a full verdict
// cache, a cold check against one bare authenticated HEAD, and, through a real API server (the
// internal/testbed control plane), admission latency against a no-op webhook and no webhook,
// registry load, behaviour under registry faults, and a mixed load.
//
// The machines it runs on are shared and noisy, so every result that has a target is a ratio of
// two measurements interleaved in one run, never an absolute time. Everything listens on
// loopback, every wait is bounded, and nothing resolves a name through the machine's DNS (see
// InstallHermeticDNS).
//
// It is the library behind the entry points in bench/: the Go benchmarks there (`go test
// -bench ./bench/`) wrap the same functions for benchstat-comparable output, bench/cmd/benchtable
// runs them all and prints one table (`make bench`), and e2e/resilience runs them at a small
// scale in `make test`.
package bench
