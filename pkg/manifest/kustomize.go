package manifest

import (
	"fmt"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Kustomize renders the kustomization in dir as `kubectl apply -k` does, with the kustomize
// library kubectl embeds and its default options (no plugins, files only from within dir). The
// objects' Source is dir; their lines are unknown.
func Kustomize(dir string) ([]Object, error) {
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var out []Object
	for _, res := range resMap.Resources() {
		js, err := res.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: encoding %s: %w", dir, res.CurId(), err)
		}
		objs, err := parseDocument(dir, document{line: 1, data: js, json: true})
		if err != nil {
			return nil, err
		}
		for i := range objs {
			objs[i].Line, objs[i].lines = 0, nil
		}
		out = append(out, objs...)
	}
	return out, nil
}
