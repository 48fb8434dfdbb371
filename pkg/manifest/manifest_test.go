package manifest

import (
	"errors"
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

func TestKustomize(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"kustomization.yaml": "namespace: team\nnamePrefix: x-\nresources:\n- deploy.yaml\nimages:\n- name: reg.example.com/web\n  newTag: \"2.0\"\n",
		"deploy.yaml":        deployYAML,
	}
	for n, d := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(d), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := Kustomize(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Name != "x-web" || objs[0].Namespace != "team" || objs[0].Source != dir || objs[0].Line != 0 {
		t.Fatalf("objects %+v", objs)
	}
	if !strings.Contains(string(objs[0].JSON), `"reg.example.com/web:2.0"`) {
		t.Errorf("kustomize images transformer not applied: %s", objs[0].JSON)
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
