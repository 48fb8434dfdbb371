// Package reverify asks the admission webhook's question again for the workloads already
// running: will their next pod start pull? It evaluates each workload's pod template through
// admission.Handler.Evaluate (the same extraction, credentials, platforms and wording as an
// admission), asks the registry about each distinct (reference, credentials, platforms) once per
// scan within a per-host request budget, and reports in an OpenReports Report per workload,
// with an Event on the workload when a result changes.
package reverify
