package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/internal/installcheck"
)

// chart is the chart, relative to this package.
var chart = filepath.Join("..", "..", "pullguard")

// decode decodes every document of a manifest strictly (internal/installcheck).
func decode(t *testing.T, manifest []byte) installcheck.Objects {
	t.Helper()
	objs := installcheck.Objects{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifest)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("splitting the manifest: %v", err)
		}
		if js, err := yaml.YAMLToJSON(doc); err == nil && string(bytes.TrimSpace(js)) != "null" {
			objs.Add(t, "stdout", doc)
		}
	}
}

// TestTemplate renders the chart as the demo does and decodes what it prints: the release's
// name and namespace name the Deployment, --set and -f reach the objects, later values win.
func TestTemplate(t *testing.T) {
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte("certificates:\n  mode: provided\n  caBundle: ZnJvbS1maWxl\nreplicaCount: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		// namespace and name are the Deployment's; configuration the webhook configuration's.
		namespace, name, configuration string
		replicas                       int32
		caBundle                       string
	}{
		"default values": {
			namespace: "pullguard-system", name: "pullguard-webhook", configuration: "pullguard", replicas: 2,
		},
		"release name and namespace": {
			args:      []string{"-name", "guard", "-namespace", "ops"},
			namespace: "ops", name: "guard-pullguard-webhook", configuration: "guard-pullguard", replicas: 2,
		},
		"values file, then --set": {
			args:      []string{"-f", values, "-set", "replicaCount=4"},
			namespace: "pullguard-system", name: "pullguard-webhook", configuration: "pullguard", replicas: 4, caBundle: "from-file",
		},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(append([]string{"-chart", chart}, tc.args...), &out); err != nil {
				t.Fatalf("run: %v", err)
			}
			objs := decode(t, out.Bytes())
			d := installcheck.Get[*appsv1.Deployment](t, objs, "Deployment", tc.namespace, tc.name)
			if got := *d.Spec.Replicas; got != tc.replicas {
				t.Errorf("replicas %d, want %d", got, tc.replicas)
			}
			vwc := installcheck.Get[*admissionregistrationv1.ValidatingWebhookConfiguration](t, objs, "ValidatingWebhookConfiguration", "", tc.configuration)
			if got := string(vwc.Webhooks[0].ClientConfig.CABundle); tc.caBundle != "" && got != tc.caBundle {
				t.Errorf("caBundle %q, want %q", got, tc.caBundle)
			}
		})
	}
}

// TestTemplateRejects: bad values fail before anything is printed.
func TestTemplateRejects(t *testing.T) {
	for name, args := range map[string][]string{
		"mode outside the schema": {"-set", "mode=block"},
		"unparsable --set":        {"-set", "replicaCount"},
		"missing values file":     {"-f", filepath.Join(t.TempDir(), "absent.yaml")},
		"stray argument":          {"pullguard"},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(append([]string{"-chart", chart}, args...), &out); err == nil {
				t.Fatalf("run %q succeeded, want an error", args)
			}
			if out.Len() != 0 {
				t.Errorf("printed %d bytes on an error", out.Len())
			}
		})
	}
}
