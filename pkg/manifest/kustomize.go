package manifest

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// Kustomize renders the kustomization in dir as `kubectl apply -k` does, with the kustomize
// library kubectl embeds and its default options (no plugins, files only from within dir).
//
// Each object is attributed to the file it came from: the render keeps kustomize's origin
// annotation (config.kubernetes.io/origin, what `buildMetadata: [originAnnotations]` in a
// kustomization asks for), and the object is found again in that file, by kind and by its name
// before namePrefix and nameSuffix. Its Source is that file (joined to dir, as the user named
// dir) and its Line the document's; a field has the line of the source file only where the
// render left the field as written there (a field an images transformer or a patch changed has
// its nearest unchanged ancestor's). An object whose file is not known (a remote base) has dir
// as Source and no line; a generated one (configMapGenerator, secretGenerator) the kustomization
// that generates it, without a line.
func Kustomize(dir string) ([]Object, error) {
	disk := filesys.MakeFsOnDisk()
	fs, err := newOriginFS(disk, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	sources := map[string][]Object{}
	var out []Object
	for _, res := range resMap.Resources() {
		origin, err := res.GetOrigin()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, res.CurId(), err)
		}
		if fs.added {
			// Asked for here, not by the user: the object is sent as kubectl would send it.
			if err := res.SetOrigin(nil); err != nil {
				return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, res.CurId(), err)
			}
		}
		js, err := res.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: encoding %s: %w", dir, res.CurId(), err)
		}
		objs, err := parseDocument(dir, document{line: 1, data: js, json: true})
		if err != nil {
			return nil, err
		}
		for i := range objs {
			attribute(&objs[i], dir, origin, sources)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// attribute points a rendered object at its origin: the file, the document in it, and the lines
// of the fields the render kept as written. sources caches each file's objects.
func attribute(obj *Object, dir string, origin *resource.Origin, sources map[string][]Object) {
	rendered := obj.lines
	obj.Line, obj.lines = 0, nil
	switch {
	case origin == nil || origin.Repo != "":
		return
	case origin.Path == "":
		if origin.ConfiguredIn != "" {
			obj.Source = filepath.Join(dir, origin.ConfiguredIn)
		}
		return
	}
	file := filepath.Join(dir, origin.Path)
	obj.Source = file
	objs, ok := sources[file]
	if !ok {
		// Unreadable now (it was read a moment ago): the file without a line still says where.
		objs, _ = readFile(file, Options{MaxFileBytes: DefaultMaxFileBytes})
		sources[file] = objs
	}
	src := sourceOf(obj, objs)
	if src == nil {
		return
	}
	obj.Line = src.Line
	renderedValues, srcValues := scalars(obj.JSON), scalars(src.JSON)
	obj.lines = fieldLines{}
	for path, line := range src.lines {
		if _, ok := rendered[path]; !ok {
			continue
		}
		if v, ok := srcValues[path]; ok && renderedValues[path] != v {
			continue
		}
		obj.lines[path] = line
	}
}

// sourceOf finds the document a rendered object came from among its file's objects: the same
// group and kind, and the name the rendered one holds (namePrefix and nameSuffix only add to
// it), the longest such name when several fit; the file's only object of that kind otherwise
// (a patch may have renamed it).
func sourceOf(obj *Object, objs []Object) *Object {
	var kind []*Object
	var best *Object
	for i := range objs {
		o := &objs[i]
		if o.GVK.Group != obj.GVK.Group || o.GVK.Kind != obj.GVK.Kind {
			continue
		}
		kind = append(kind, o)
		if o.Name != "" && strings.Contains(obj.Name, o.Name) && (best == nil || len(o.Name) > len(best.Name)) {
			best = o
		}
	}
	if best == nil && len(kind) == 1 {
		best = kind[0]
	}
	return best
}

// originFS is the disk, with the root kustomization read as if it asked kustomize to keep each
// resource's origin (buildMetadata: [originAnnotations]); kustomize tracks origins only when a
// kustomization asks, and has no option of its own for it.
type originFS struct {
	filesys.FileSystem
	// roots are the paths kustomize reads the root kustomization from (dir resolved as its
	// loader resolves it).
	roots []string
	// added is whether the root kustomization did not ask itself.
	added bool
}

func newOriginFS(disk filesys.FileSystem, dir string) (*originFS, error) {
	root, err := filesys.ConfirmDir(disk, dir)
	if err != nil {
		return nil, err
	}
	fs := &originFS{FileSystem: disk}
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		fs.roots = append(fs.roots, root.Join(name))
	}
	return fs, nil
}

func (f *originFS) ReadFile(path string) ([]byte, error) {
	data, err := f.FileSystem.ReadFile(path)
	if err != nil || !slices.Contains(f.roots, path) {
		return data, err
	}
	withOrigins, added, err := askForOrigins(data)
	if err != nil {
		// Not a YAML mapping: kustomize reports it in its own words.
		return data, nil
	}
	f.added = f.added || added
	return withOrigins, nil
}

// askForOrigins adds originAnnotations to a kustomization's buildMetadata, reporting whether it
// was not there.
func askForOrigins(data []byte) ([]byte, bool, error) {
	node, err := kyaml.Parse(string(data))
	if err != nil {
		return nil, false, err
	}
	if node.YNode().Kind != kyaml.MappingNode {
		return nil, false, errors.New("not a mapping")
	}
	seq, err := node.Pipe(kyaml.LookupCreate(kyaml.SequenceNode, "buildMetadata"))
	if err != nil {
		return nil, false, err
	}
	for _, item := range seq.YNode().Content {
		if item.Value == types.OriginAnnotations {
			return data, false, nil
		}
	}
	seq.YNode().Content = append(seq.YNode().Content, kyaml.NewStringRNode(types.OriginAnnotations).YNode())
	s, err := node.String()
	if err != nil {
		return nil, false, err
	}
	return []byte(s), true, nil
}
