// Package cloud gives the webhook's own cloud identity to the registries of that cloud (ECR,
// Artifact Registry and GCR, ACR): when a pod names an image there and none of its pull
// secrets matches, the nodes pull with their own identity through a kubelet credential
// provider, and the webhook can still see what they see of the image (does the tag exist, which
// platforms) with an identity it was granted. It never learns whether the nodes' identity may
// pull.
//
// A credential is only ever handed out for a host that matches its provider's patterns after
// egress.CanonicalHost; the registry requests that carry it go through the engine's network
// guard like any other. The SDKs' own calls (STS, metadata servers, the cloud's token APIs)
// use the SDKs' clients and their documented endpoint settings.
package cloud
