package manifest

import (
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
)

// fieldLines maps field paths, written as Kubernetes writes them in errors
// (spec.template.spec.containers[0].image), to their line; "" is the object itself.
type fieldLines map[string]int

// positions parses one document with yaml.v3, whose nodes carry lines, and records the line
// of every mapping value and sequence item. The content itself comes from sigs.k8s.io/yaml, as
// kubectl reads it; the two agree on structure, which is all that is taken from here.
func positions(data []byte) (fieldLines, error) {
	lines := fieldLines{}
	err := visitDocument(data, func(path string, line int, _ *yamlv3.Node) {
		if _, ok := lines[path]; !ok {
			lines[path] = line
		}
	})
	return lines, err
}

// scalars maps each scalar field of a document (YAML or JSON) to its value, by field path.
func scalars(data []byte) map[string]string {
	values := map[string]string{}
	// A document that does not parse has no values to compare; its caller parsed it already.
	_ = visitDocument(data, func(path string, _ int, n *yamlv3.Node) {
		if n.Kind == yamlv3.ScalarNode {
			values[path] = n.Value
		}
	})
	return values
}

// visitDocument calls fn for every node of one document, with its field path and the line a
// reader finds it on.
func visitDocument(data []byte, fn func(path string, line int, n *yamlv3.Node)) error {
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(data, &doc); err != nil {
		return err
	}
	if doc.Kind == yamlv3.DocumentNode && len(doc.Content) == 1 {
		visit(doc.Content[0], "", doc.Content[0].Line, fn, 0)
	}
	return nil
}

// maxDepth bounds the walk; Kubernetes objects are far shallower, and yaml.v3 already refuses
// the alias bombs that could make a document larger than its text.
const maxDepth = 100

func visit(n *yamlv3.Node, path string, line int, fn func(string, int, *yamlv3.Node), depth int) {
	if depth > maxDepth {
		return
	}
	fn(path, line, n)
	switch n.Kind {
	case yamlv3.AliasNode:
		if n.Alias != nil {
			visit(n.Alias, path, line, fn, depth+1)
		}
	case yamlv3.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i], n.Content[i+1]
			if key.Kind != yamlv3.ScalarNode {
				continue
			}
			child := key.Value
			if path != "" {
				child = path + "." + key.Value
			}
			// A key's line is where the user reads the field; a block value starts below it.
			visit(value, child, key.Line, fn, depth+1)
		}
	case yamlv3.SequenceNode:
		for i, item := range n.Content {
			visit(item, path+"["+strconv.Itoa(i)+"]", item.Line, fn, depth+1)
		}
	}
}

// sub returns the lines under prefix, with prefix removed from their paths.
func (l fieldLines) sub(prefix string) fieldLines {
	out := fieldLines{}
	for p, line := range l {
		switch {
		case p == prefix:
			out[""] = line
		case strings.HasPrefix(p, prefix+"."):
			out[p[len(prefix)+1:]] = line
		}
	}
	return out
}
