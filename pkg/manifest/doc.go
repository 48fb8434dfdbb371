// Package manifest reads Kubernetes objects from the files `kubectl apply` takes: YAML or JSON,
// several documents per file, `kind: List`, directories (recursively or not), standard input,
// and kustomizations rendered in-process with the kustomize library kubectl embeds. Each object
// keeps where it came from, down to the line of every field, so that a finding about
// spec.template.spec.containers[0].image can name deploy.yaml:21.
//
// Documents are split on `---` lines and converted to JSON with sigs.k8s.io/yaml, as kubectl
// does; positions come from a second parse with yaml.v3, whose nodes carry lines. A document
// that does not parse is a *ParseError naming the file and the line. Objects are returned
// whatever their kind: choosing what to check is the caller's business.
package manifest
