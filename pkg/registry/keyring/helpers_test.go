package keyring

import (
	"encoding/base64"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Fake credentials; tests assert none of them ever reaches an error or message string.
const (
	testUser     = "robot-user"
	testPassword = "Sup3r-Secret-Pa55"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// entryJSON is a dockerconfig entry as it would be written in a secret.
type entryJSON map[string]any

func userPass(user, pass string) entryJSON { return entryJSON{"username": user, "password": pass} }

// dockerConfigJSONSecret is a kubernetes.io/dockerconfigjson secret with these auths.
func dockerConfigJSONSecret(name string, auths map[string]entryJSON) corev1.Secret {
	doc, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		panic(err)
	}
	return rawSecret(name, corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, string(doc))
}

// dockercfgSecret is a legacy kubernetes.io/dockercfg secret (a bare map).
func dockercfgSecret(name string, auths map[string]entryJSON) corev1.Secret {
	doc, err := json.Marshal(auths)
	if err != nil {
		panic(err)
	}
	return rawSecret(name, corev1.SecretTypeDockercfg, corev1.DockerConfigKey, string(doc))
}

func rawSecret(name string, typ corev1.SecretType, dataKey, data string) corev1.Secret {
	return corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app"},
		Type:       typ,
		Data:       map[string][]byte{dataKey: []byte(data)},
	}
}

// testMaxKeys is Explain's bound in tests: more than any test secret holds.
const testMaxKeys = 64
