package app

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// sarifSchemaFile is the SARIF 2.1.0 JSON schema as OASIS publishes it (errata01, from
// github.com/oasis-tcs/sarif-spec, sarif-2.1/schema/sarif-schema-2.1.0.json).
const sarifSchemaFile = "testdata/sarif-schema-2.1.0.json"

func compileSARIFSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(sarifSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif-schema-2.1.0.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func TestCheckSARIF(t *testing.T) {
	sch := compileSARIFSchema(t)
	reg := newTestRegistry(t, "demo/web")
	reg.push(t, "demo/web:1.0")
	dir := t.TempDir()
	file := writeFile(t, dir, "deploy.yaml", deploymentYAML("web", reg.host+"/demo/web:1.O")+"---\n"+
		deploymentYAML("ok", reg.host+"/demo/web:1.0")+"---\n"+
		deploymentYAML("secret", reg.host+"/demo/web:1.0", "      imagePullSecrets: [{name: missing}]\n"))
	code, out, _ := run(t, "", append([]string{"check", "-f", file, "-o", "sarif"}, reg.flags()...)...)
	if code != exitNotPullable {
		t.Fatalf("exit %d\n%s", code, out)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("SARIF output does not validate against the 2.1.0 schema: %v\n%s", err, out)
	}
	var log sarifLog
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	res := log.Runs[0].Results
	if len(res) != 2 {
		t.Fatalf("%d results, want 2 (the pullable image is no result):\n%s", len(res), out)
	}
	if res[0].RuleID != "tag_not_found" || res[0].Level != "error" || res[0].Locations[0].PhysicalLocation.Region.StartLine != 14 ||
		res[0].Locations[0].PhysicalLocation.ArtifactLocation.URI != file {
		t.Errorf("first result: %+v", res[0])
	}
	if res[1].RuleID != "credentials_unreadable" || res[1].Level != "warning" {
		t.Errorf("second result: %+v", res[1])
	}
	if len(log.Runs[0].Tool.Driver.Rules) != 2 {
		t.Errorf("rules: %+v", log.Runs[0].Tool.Driver.Rules)
	}
}

// TestSARIFSchemaRejects: the validator is strict enough to catch a broken log.
func TestSARIFSchemaRejects(t *testing.T) {
	sch := compileSARIFSchema(t)
	for name, doc := range map[string]string{
		"no version":    `{"runs":[]}`,
		"unknown level": `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"level":"fatal","message":{"text":"m"}}]}]}`,
		"line 0":        `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"message":{"text":"m"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"a"},"region":{"startLine":0}}}]}]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
			if err != nil {
				t.Fatal(err)
			}
			if sch.Validate(inst) == nil {
				t.Errorf("%s validated", doc)
			}
		})
	}
}
