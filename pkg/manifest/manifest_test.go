package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const deployYAML = `# a comment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team
spec:
  template:
    spec:
      containers:
        - name: app
          image: reg.example.com/web:1.O
        - name: side
          image: busybox:1
`

type want struct {
	kind, name string
	line       int
	// fields maps a field path to its expected line.
	fields map[string]int
}

func TestParse(t *testing.T) {
	cases := map[string]struct {
		data string
		want []want
	}{
		"one YAML document": {data: deployYAML, want: []want{{kind: "Deployment", name: "web", line: 2,
			fields: map[string]int{"spec.template.spec.containers[0].image": 12, "spec.template.spec.containers[1].image": 14,
				"spec.template.spec.containers[1].imagePullPolicy": 13}}}},
		"multi-document with empty ones": {data: "---\n# nothing\n---\n" + deployYAML + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - image: nginx\n",
			want: []want{{kind: "Deployment", name: "web", line: 5, fields: map[string]int{"spec.template.spec.containers[0].image": 15}},
				{kind: "Pod", name: "p", line: 19, fields: map[string]int{"spec.containers[0].image": 25}}}},
		"kind List": {data: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n  spec:\n    containers:\n    - image: nginx\n- apiVersion: v1\n  kind: ServiceAccount\n  metadata: {name: sa}\n",
			want: []want{{kind: "Pod", name: "a", line: 4, fields: map[string]int{"spec.containers[0].image": 9}}, {kind: "ServiceAccount", name: "sa", line: 10}}},
		"JSON stream": {data: "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"a\"},\n  \"spec\": {\"containers\": [\n    {\"image\": \"nginx\"}]}\n}\n\n{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"b\"}}\n",
			want: []want{{kind: "Pod", name: "a", line: 1, fields: map[string]int{"spec.containers[0].image": 6}}, {kind: "Pod", name: "b", line: 9}}},
		"JSON with tabs has no field lines": {data: "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"Pod\",\n\t\"metadata\": {\"name\": \"a\"}\n}\n",
			want: []want{{kind: "Pod", name: "a", line: 1, fields: map[string]int{"spec.containers[0].image": 1}}}},
		"generateName": {data: "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: run-\n", want: []want{{kind: "Job", name: "run-", line: 1}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			objs, err := Parse("in.yaml", []byte(c.data))
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != len(c.want) {
				t.Fatalf("got %d objects, want %d", len(objs), len(c.want))
			}
			for i, w := range c.want {
				o := objs[i]
				if o.GVK.Kind != w.kind || o.Name != w.name || o.Line != w.line || o.Source != "in.yaml" {
					t.Errorf("object %d: %s %s line %d (%s), want %s %s line %d", i, o.GVK.Kind, o.Name, o.Line, o.Source, w.kind, w.name, w.line)
				}
				for path, line := range w.fields {
					if got := o.FieldLine(path); got != line {
						t.Errorf("object %d: FieldLine(%s) = %d, want %d", i, path, got, line)
					}
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]struct {
		data string
		line int
	}{
		"bad YAML in the second document": {data: deployYAML + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n", line: 16},
		"tab indentation":                 {data: "apiVersion: v1\nkind: Pod\nmetadata:\n\tname: a\n", line: 1},
		"truncated JSON":                  {data: "{\"apiVersion\": \"v1\", \"kind\": \"Pod\"}\n{\"kind\": \n", line: 2},
		"list item not an object":         {data: "apiVersion: v1\nkind: List\nitems:\n- 3\n", line: 1},
		"document is a string":            {data: "just text\n", line: 1},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(c.data))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			if pe.Source != "bad.yaml" || pe.Line != c.line {
				t.Errorf("ParseError at %s:%d, want bad.yaml:%d (%v)", pe.Source, pe.Line, c.line, err)
			}
			if !strings.HasPrefix(err.Error(), "bad.yaml:") {
				t.Errorf("error %q does not start with the file", err)
			}
		})
	}
}

func TestReadDirectories(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, data string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(name string) string { return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\n" }
	write("a.yaml", pod("a"))
	write("b.json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"b"}}`)
	write("notes.txt", "not a manifest")
	write("sub/c.yml", pod("c"))

	cases := map[string]struct {
		recursive bool
		names     string
	}{
		"flat":      {names: "a,b"},
		"recursive": {recursive: true, names: "a,b,c"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			objs, err := Read([]string{dir}, Options{Recursive: c.recursive})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, o := range objs {
				names = append(names, o.Name)
			}
			if got := strings.Join(names, ","); got != c.names {
				t.Errorf("objects %s, want %s", got, c.names)
			}
		})
	}

	t.Run("stdin", func(t *testing.T) {
		objs, err := Read([]string{"-"}, Options{Stdin: strings.NewReader(pod("in"))})
		if err != nil || len(objs) != 1 || objs[0].Source != "-" {
			t.Fatalf("stdin: %v %+v", err, objs)
		}
	})
	t.Run("file too large", func(t *testing.T) {
		if _, err := Read([]string{filepath.Join(dir, "a.yaml")}, Options{MaxFileBytes: 10}); err == nil || !strings.Contains(err.Error(), "larger than 10 bytes") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, err := Read([]string{filepath.Join(dir, "nope.yaml")}, Options{}); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestKustomize: objects rendered from a kustomization name the file and line they came from,
// through kustomize's origin annotation, which the render asks for and does not pass on.
func TestKustomize(t *testing.T) {
	const svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
	cases := map[string]struct {
		files map[string]string
		// dir is the kustomization rendered, relative to the test's directory.
		dir  string
		want []want
		// wantSource is each object's Source, relative to the test's directory.
		wantSource []string
		// annotated: the object keeps config.kubernetes.io/origin (the user asked for it).
		annotated bool
		// rendered is in the last object's JSON: the render applied the kustomization.
		rendered string
	}{
		"a resource file, namespace and namePrefix": {
			files: map[string]string{
				"kustomization.yaml": "namespace: team\nnamePrefix: x-\nresources:\n- deploy.yaml\n",
				"deploy.yaml":        deployYAML,
			},
			// The prefixed name is not as written: its line is metadata's.
			want: []want{{kind: "Deployment", name: "x-web", line: 2, fields: map[string]int{
				"metadata.name": 4, "metadata.namespace": 6, "spec.template.spec.containers[0].image": 12, "spec.template.spec.containers[1].image": 14,
			}}},
			wantSource: []string{"deploy.yaml"},
			rendered:   `"name":"x-web","namespace":"team"`,
		},
		"an overlay of a base: the base's file; an image the overlay sets has its container's line": {
			files: map[string]string{
				"overlays/prod/kustomization.yaml": "resources:\n- ../../base\nimages:\n- name: reg.example.com/web\n  newTag: \"2.0\"\n",
				"base/kustomization.yaml":          "resources:\n- svc.yaml\n- deploy.yaml\n",
				"base/deploy.yaml":                 deployYAML,
				"base/svc.yaml":                    svc,
			},
			dir: "overlays/prod",
			want: []want{
				{kind: "Service", name: "web", line: 1},
				{kind: "Deployment", name: "web", line: 2, fields: map[string]int{"spec.template.spec.containers[0].image": 11, "spec.template.spec.containers[1].image": 14}},
			},
			wantSource: []string{"base/svc.yaml", "base/deploy.yaml"},
			rendered:   `"reg.example.com/web:2.0"`,
		},
		"one file of several documents": {
			files: map[string]string{
				"kustomization.yaml": "resources:\n- all.yaml\nnameSuffix: -v2\n",
				"all.yaml":           svc + "---\n" + deployYAML,
			},
			want: []want{
				{kind: "Service", name: "web-v2", line: 1},
				{kind: "Deployment", name: "web-v2", line: 7, fields: map[string]int{"spec.template.spec.containers[0].image": 17}},
			},
			wantSource: []string{"all.yaml", "all.yaml"},
		},
		"a generated Secret: the kustomization that generates it": {
			files: map[string]string{
				"kustomization.yaml": "secretGenerator:\n- name: regcred\n  type: kubernetes.io/dockerconfigjson\n  files: [.dockerconfigjson=config.json]\n",
				"config.json":        `{"auths":{}}`,
			},
			want:       []want{{kind: "Secret", line: 0}},
			wantSource: []string{"kustomization.yaml"},
		},
		"the kustomization asks for origins itself: they stay": {
			files: map[string]string{
				"kustomization.yaml": "buildMetadata: [originAnnotations]\nresources:\n- deploy.yaml\n",
				"deploy.yaml":        deployYAML,
			},
			want:       []want{{kind: "Deployment", name: "web", line: 2}},
			wantSource: []string{"deploy.yaml"},
			annotated:  true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			for n, d := range tc.files {
				p := filepath.Join(root, n)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(d), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			objs, err := Kustomize(filepath.Join(root, tc.dir))
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != len(tc.want) {
				t.Fatalf("%d objects, want %d: %+v", len(objs), len(tc.want), objs)
			}
			for i, w := range tc.want {
				o := objs[i]
				if o.GVK.Kind != w.kind || (w.name != "" && o.Name != w.name) || o.Line != w.line {
					t.Errorf("object %d: %s %q at line %d, want %s %q at line %d", i, o.GVK.Kind, o.Name, o.Line, w.kind, w.name, w.line)
				}
				if want := filepath.Join(root, tc.wantSource[i]); o.Source != want {
					t.Errorf("object %d: source %s, want %s", i, o.Source, want)
				}
				for path, line := range w.fields {
					if got := o.FieldLine(path); got != line {
						t.Errorf("object %d: %s at line %d, want %d", i, path, got, line)
					}
				}
				if got := strings.Contains(string(o.JSON), "config.kubernetes.io/origin"); got != tc.annotated {
					t.Errorf("object %d: origin annotation kept %v, want %v: %s", i, got, tc.annotated, o.JSON)
				}
			}
			if last := objs[len(objs)-1].JSON; !strings.Contains(string(last), tc.rendered) {
				t.Errorf("the render lacks %s: %s", tc.rendered, last)
			}
		})
	}
	if _, err := Kustomize(t.TempDir()); err == nil {
		t.Error("a directory without a kustomization must be an error")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(deployYAML))
	f.Add([]byte("{\"kind\":\"List\",\"items\":[{}]}"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Parse("f.yaml", data)
		for _, o := range objs {
			if o.FieldLine("spec.containers[0].image") < 0 {
				t.Fatal("negative line")
			}
		}
		_ = err
	})
}

// TestParseManyDocuments: documents are parsed in parallel, yet the objects keep the file's
// order and the error is the first broken document's, as when they were read in turn.
func TestParseManyDocuments(t *testing.T) {
	pod := func(i int) string { return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-%d\n", i) }
	const n = 100
	var docs []string
	for i := range n {
		docs = append(docs, pod(i))
	}
	objs, err := Parse("many.yaml", []byte(strings.Join(docs, "---\n")))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != n {
		t.Fatalf("%d objects, want %d", len(objs), n)
	}
	for i, o := range objs {
		if want := fmt.Sprintf("web-%d", i); o.Name != want || o.Line != 5*i+1 {
			t.Errorf("object %d is %s at line %d, want %s at line %d", i, o.Name, o.Line, want, 5*i+1)
		}
	}

	broken := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n"
	docs[30], docs[70] = broken, broken
	_, err = Parse("many.yaml", []byte(strings.Join(docs, "---\n")))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 5*30+1 {
		t.Errorf("err = %v, want the ParseError of the document at line %d", err, 5*30+1)
	}
}
