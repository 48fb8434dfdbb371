package testbed

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// FailPull writes what a kubelet writes when it cannot pull the image of container on the
// pod's node (there is no kubelet in the bed): the container's waiting state with reason
// ErrImagePull and the runtime's error text (pkg/kubelet/images/types.go), and an
// events.k8s.io Event with reason Failed and note `Failed to pull image %q: %v`
// (pkg/kubelet/images/image_manager.go) about spec.containers{NAME}.
func FailPull(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, container, runtimeErr string) error {
	var image string
	for _, ct := range pod.Spec.Containers {
		if ct.Name == container {
			image = ct.Image
		}
	}
	if image == "" {
		return fmt.Errorf("pod %s/%s has no container %q", pod.Namespace, pod.Name, container)
	}
	pod = pod.DeepCopy()
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: container, Image: image,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: runtimeErr}},
	}}
	if _, err := c.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("writing the status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if _, err := c.EventsV1().Events(pod.Namespace).Create(ctx, &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", pod.Name, time.Now().UnixNano())}, // the recorder's naming
		EventTime:           metav1.NewMicroTime(time.Now()),
		ReportingController: "kubelet",
		ReportingInstance:   pod.Spec.NodeName,
		Action:              "Pulling",
		Reason:              "Failed",
		Type:                corev1.EventTypeWarning,
		Note:                fmt.Sprintf("Failed to pull image %q: %s", image, runtimeErr),
		Regarding: corev1.ObjectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, FieldPath: "spec.containers{" + container + "}",
		},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("writing the kubelet's Event for pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// ContainerdNotFound is containerd's error text, through the CRI, for a reference its
// resolver could not find (as the kubelet reports it).
func ContainerdNotFound(image string) string {
	return fmt.Sprintf("rpc error: code = NotFound desc = failed to pull and unpack image %q: failed to resolve reference %q: %s: not found", image, image, image)
}
