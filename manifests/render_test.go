package manifests_test

import (
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/pullguard/pullguard/internal/installcheck"
)

// render builds the kustomization in dir (relative to manifests/) as `kubectl apply -k` does,
// with the kustomize library kubectl itself embeds, and decodes every object strictly.
func render(t *testing.T, dir string) installcheck.Objects {
	t.Helper()
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out := installcheck.Objects{}
	for _, res := range resMap.Resources() {
		data, err := res.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: encoding %s: %v", dir, res.CurId(), err)
		}
		out.Add(t, dir+": "+res.CurId().String(), data)
	}
	return out
}
