// Package lifecycle runs the e2e scenarios that stop or restart the webhook, on a test bed of its
// own and sequentially: a restarted webhook has an empty verdict cache, so only then does
// counting requests at the registry tell whether an update was re-checked; and a stopped webhook
// lets the failurePolicy decide.
package lifecycle
