package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// StdinName is the file name that reads standard input, as with kubectl -f -.
const StdinName = "-"

// DefaultMaxFileBytes bounds one input file: a manifest of this size is already far beyond
// anything a cluster accepts (the API server's limit on one object is 3 MiB in etcd).
const DefaultMaxFileBytes = 64 << 20

// Object is one Kubernetes object of the input.
type Object struct {
	// Source is the file as the user named it ("-" for standard input), or the kustomization
	// directory for a rendered kustomization.
	Source string
	// Line is the 1-based line where the object starts in Source; 0 when unknown (kustomize
	// output has no lines in any file).
	Line int
	GVK  schema.GroupVersionKind
	// Namespace and Name are as written in metadata (Name is generateName when name is empty).
	Namespace, Name string
	// JSON is the object as JSON, as kubectl would send it.
	JSON []byte
	// lines maps a field path (spec.template.spec.containers[0].image) to its line.
	lines map[string]int
}

// FieldLine returns the line of the field at path, of its nearest ancestor written in the
// source when the field itself is not (a defaulted field), else the object's line.
func (o *Object) FieldLine(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := o.lines[p]; ok {
			return l
		}
	}
	return o.Line
}

// parentPath drops the last element of a field path: a[0].b → a[0] → a.
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// ParseError is a document that does not parse.
type ParseError struct {
	Source string
	// Line is where the document starts; the parser's own message names the exact line.
	Line int
	Err  error
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: document does not parse: %v", e.Source, e.Line, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// Options configures Read.
type Options struct {
	// Recursive descends into subdirectories of a directory argument (kubectl -R).
	Recursive bool
	// Stdin is read for the file name "-".
	Stdin io.Reader
	// MaxFileBytes bounds each file (0: DefaultMaxFileBytes).
	MaxFileBytes int64
}

// manifestExtensions are the file extensions kubectl reads from a directory.
var manifestExtensions = []string{".yaml", ".yml", ".json"}

// Read returns the objects of every path, in order: files as given (any extension), and the
// .yaml, .yml and .json files of directories in lexical order.
func Read(paths []string, opts Options) ([]Object, error) {
	if opts.MaxFileBytes == 0 {
		opts.MaxFileBytes = DefaultMaxFileBytes
	}
	var out []Object
	for _, p := range paths {
		files, err := expand(p, opts)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			objs, err := readFile(f, opts)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	return out, nil
}

func expand(p string, opts Options) ([]string, error) {
	if p == StdinName {
		return []string{p}, nil
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && path != p && !opts.Recursive:
			return filepath.SkipDir
		case !d.IsDir() && slices.Contains(manifestExtensions, strings.ToLower(filepath.Ext(path))):
			files = append(files, path)
		}
		return nil
	})
	return files, err
}

func readFile(name string, opts Options) ([]Object, error) {
	var r io.Reader
	if name == StdinName {
		if opts.Stdin == nil {
			return nil, errors.New("reading standard input: no input")
		}
		r = opts.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	// Bounded: a path such as /dev/zero must fail, not exhaust memory.
	data, err := io.ReadAll(io.LimitReader(r, opts.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(data)) > opts.MaxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, opts.MaxFileBytes)
	}
	return Parse(name, data)
}

// Parse returns the objects of one file's content; source names it in objects and errors.
//
// Documents are parsed in parallel, as many at once as there are CPUs: each is parsed twice
// (to JSON, and for its lines), which made reading a rendered chart of 500 objects most of a
// check's own CPU. The objects keep the file's order, and the error is that of the first
// document in the file that does not parse, as when they were read one by one.
func Parse(source string, data []byte) ([]Object, error) {
	docs := documents(data)
	objs := make([][]Object, len(docs))
	errs := make([]error, len(docs))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, doc := range docs {
		g.Go(func() error {
			objs[i], errs[i] = parseDocument(source, doc)
			return nil
		})
	}
	_ = g.Wait()
	var out []Object
	for i := range docs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out = append(out, objs[i]...)
	}
	return out, nil
}

// document is one YAML document or JSON value, and the line it starts on.
type document struct {
	line int
	data []byte
	json bool
}

// documents splits a file as kubectl's decoder does: a JSON stream when the first non-space
// byte opens a JSON object, YAML documents separated by "---" lines otherwise.
func documents(data []byte) []document {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if bytes.HasPrefix(trimmed, []byte("{")) {
		return jsonDocuments(data)
	}
	var docs []document
	start, line := 1, 0
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), len(data)+1)
	for sc.Scan() {
		line++
		text := sc.Text()
		if sep := strings.TrimRight(text, " \t\r"); sep == "---" || strings.HasPrefix(text, "--- ") {
			docs = append(docs, document{line: start, data: bytes.Clone(cur.Bytes())})
			cur.Reset()
			start = line + 1
			continue
		}
		cur.WriteString(text)
		cur.WriteByte('\n')
	}
	return append(docs, document{line: start, data: cur.Bytes()})
}

// jsonDocuments splits a stream of JSON values. Whatever follows the last value that decodes
// is one more document, so that its error is reported with its line.
func jsonDocuments(data []byte) []document {
	var docs []document
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		before := dec.InputOffset()
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			rest := data[before:]
			return append(docs, document{line: lineAt(data, before+leadingSpace(rest)), data: rest, json: true})
		}
		// The value starts after the whitespace InputOffset still counts.
		off := before + leadingSpace(data[before:])
		docs = append(docs, document{line: lineAt(data, off), data: raw, json: true})
	}
}

func leadingSpace(b []byte) int64 { return int64(len(b) - len(bytes.TrimLeft(b, " \t\r\n"))) }

func lineAt(data []byte, off int64) int { return bytes.Count(data[:off], []byte("\n")) + 1 }

// typeMeta is what a document must say about itself.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name         string `json:"name"`
		GenerateName string `json:"generateName"`
		Namespace    string `json:"namespace"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

func parseDocument(source string, doc document) ([]Object, error) {
	// Lines before the document are kept as empty lines, so that both parsers report lines of
	// the file rather than of the document.
	padded := append(bytes.Repeat([]byte("\n"), doc.line-1), doc.data...)
	js := doc.data
	if !doc.json {
		var err error
		if js, err = yaml.YAMLToJSON(padded); err != nil {
			return nil, &ParseError{Source: source, Line: doc.line, Err: err}
		}
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		// An empty document, or one with only comments.
		return nil, nil
	}
	var tm typeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, &ParseError{Source: source, Line: doc.line, Err: err}
	}
	// JSON with tabs is not YAML; such a document is read without field positions.
	root, _ := positions(padded)
	if isList(tm) {
		var out []Object
		for i, item := range tm.Items {
			var itm typeMeta
			if err := json.Unmarshal(item, &itm); err != nil {
				return nil, &ParseError{Source: source, Line: doc.line, Err: fmt.Errorf("items[%d]: %w", i, err)}
			}
			lines := root.sub(fmt.Sprintf("items[%d]", i))
			out = append(out, newObject(source, cmpLine(lines[""], doc.line), itm, item, lines))
		}
		return out, nil
	}
	return []Object{newObject(source, cmpLine(root[""], doc.line), tm, js, root)}, nil
}

func cmpLine(l, fallback int) int {
	if l > 0 {
		return l
	}
	return fallback
}

// isList is kubectl's test: a kind named *List with an items field.
func isList(tm typeMeta) bool {
	return strings.HasSuffix(tm.Kind, "List") && tm.Items != nil
}

func newObject(source string, line int, tm typeMeta, js []byte, lines fieldLines) Object {
	name := tm.Metadata.Name
	if name == "" {
		name = tm.Metadata.GenerateName
	}
	return Object{
		Source: source, Line: line,
		GVK:       schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind),
		Namespace: tm.Metadata.Namespace, Name: name,
		JSON: js, lines: lines,
	}
}
