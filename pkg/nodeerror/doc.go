// Package nodeerror classifies what a node says about an image pull it failed: the kubelet's
// waiting reason for the container, its message, and the kubelet's Events for the pod, which
// wrap containerd's error text. It is the one place in pullguard where error strings are
// matched: the node's text is its only output, so there is nothing typed to classify.
package nodeerror
