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
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(data, &doc); err != nil {
		return fieldLines{}, err
	}
	lines := fieldLines{}
	if doc.Kind == yamlv3.DocumentNode && len(doc.Content) == 1 {
		walk(doc.Content[0], "", lines, 0)
	}
	return lines, nil
}

// maxDepth bounds the walk; Kubernetes objects are far shallower, and yaml.v3 already refuses
// the alias bombs that could make a document larger than its text.
const maxDepth = 100

func walk(n *yamlv3.Node, path string, lines fieldLines, depth int) {
	if depth > maxDepth {
		return
	}
	if _, ok := lines[path]; !ok {
		lines[path] = n.Line
	}
	switch n.Kind {
	case yamlv3.AliasNode:
		if n.Alias != nil {
			walk(n.Alias, path, lines, depth+1)
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
			lines[child] = key.Line
			walk(value, child, lines, depth+1)
		}
	case yamlv3.SequenceNode:
		for i, item := range n.Content {
			walk(item, path+"["+strconv.Itoa(i)+"]", lines, depth+1)
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
