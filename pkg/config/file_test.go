package config

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// settings is a small options struct bound the way the packages bind theirs.
type settings struct {
	Name    string
	On      bool
	Count   int
	Wait    time.Duration
	List    []string
	Nested  int
	Special map[string]int
}

type specialValue struct{ m *map[string]int }

func (v specialValue) String() string   { return "" }
func (v specialValue) Set(string) error { return errors.New("file only") }
func (v specialValue) Type() string     { return "special" }
func (v specialValue) UnmarshalJSON(b []byte) error {
	return json.Unmarshal(b, v.m)
}

func bind(s *settings) *pflag.FlagSet {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	top := NewBinder(fs, "")
	top.String(&s.Name, "name", "name", "u")
	sec := NewBinder(fs, "sec")
	sec.Bool(&s.On, "enabled", "enabled", "u")
	sec.Int(&s.Count, "count", "count", "u")
	sec.Duration(&s.Wait, "wait", "wait", "u")
	sec.StringSlice(&s.List, "list", "list", "u")
	sec.Int(&s.Nested, "nested", "deep.nested", "u")
	sec.Var(specialValue{&s.Special}, "special", "special", "u")
	fs.Bool("not-in-file", false, "u")
	return fs
}

const head = "apiVersion: config.pullguard.io/v1alpha1\nkind: TestConfiguration\n"

func TestApply(t *testing.T) {
	defaults := settings{Name: "d", Count: 1, Wait: time.Second, List: []string{"a"}}
	tests := map[string]struct {
		file string
		want settings
	}{
		"nothing set keeps the defaults": {file: head, want: defaults},
		"every kind of value": {
			file: head + "name: nm\nsec:\n  enabled: true\n  count: -3\n  wait: 2m\n  list: [x, \"y,z\"]\n  deep:\n    nested: 7\n  special: {k: 1}\n",
			want: settings{Name: "nm", On: true, Count: -3, Wait: 2 * time.Minute, List: []string{"x", "y,z"}, Nested: 7, Special: map[string]int{"k": 1}},
		},
		"empty list clears the default": {file: head + "sec:\n  list: []\n", want: settings{Name: "d", Count: 1, Wait: time.Second, List: []string{}}},
		"null keeps the default":        {file: head + "name: null\nsec: ~\n", want: defaults},
		"JSON":                          {file: `{"apiVersion":"config.pullguard.io/v1alpha1","kind":"TestConfiguration","sec":{"count":5}}`, want: settings{Name: "d", Count: 5, Wait: time.Second, List: []string{"a"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := defaults
			s.List = append([]string(nil), defaults.List...)
			if err := Apply([]byte(tc.file), "TestConfiguration", bind(&s)); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !reflect.DeepEqual(s, tc.want) {
				t.Errorf("got %+v, want %+v", s, tc.want)
			}
		})
	}
}

func TestApplyRejects(t *testing.T) {
	tests := map[string]struct {
		file string
		want []string // each in the error
	}{
		"unknown keys, all of them":     {file: head + "nmae: x\nsec:\n  cuont: 1\n  deep:\n    x: 1\n", want: []string{`unknown field "nmae"`, `unknown field "sec.cuont"`, `unknown field "sec.deep.x"`}},
		"key of a flag not in the file": {file: head + "not-in-file: true\n", want: []string{`unknown field "not-in-file"`}},
		"case matters":                  {file: head + "Name: x\n", want: []string{`unknown field "Name"`}},
		"duplicate key":                 {file: head + "name: a\nname: b\n", want: []string{"name"}},
		"string for a number":           {file: head + "sec:\n  count: \"5\"\n", want: []string{"sec.count: must be a number"}},
		"fraction for an int":           {file: head + "sec:\n  count: 1.5\n", want: []string{"sec.count"}},
		"string for a bool":             {file: head + "sec:\n  enabled: \"true\"\n", want: []string{"sec.enabled: must be true or false"}},
		"number for a duration":         {file: head + "sec:\n  wait: 5\n", want: []string{`sec.wait: must be a duration string`}},
		"bad duration":                  {file: head + "sec:\n  wait: forever\n", want: []string{"sec.wait"}},
		"scalar for a list":             {file: head + "sec:\n  list: a\n", want: []string{"sec.list: must be a list of strings"}},
		"scalar for a section":          {file: head + "sec: 1\n", want: []string{"sec: must be a mapping"}},
		"not a mapping":                 {file: "- a\n", want: []string{"must be a mapping"}},
		"no apiVersion":                 {file: "kind: TestConfiguration\n", want: []string{"apiVersion and kind are required"}},
		"empty":                         {file: "", want: []string{"apiVersion and kind are required"}},
		"wrong apiVersion":              {file: "apiVersion: v1\nkind: TestConfiguration\n", want: []string{`apiVersion "v1" is not supported`}},
		"wrong kind":                    {file: "apiVersion: config.pullguard.io/v1alpha1\nkind: Pod\n", want: []string{`kind "Pod" is not supported`}},
		"kind not a string":             {file: "apiVersion: config.pullguard.io/v1alpha1\nkind: [x]\n", want: []string{"kind"}},
		"not YAML":                      {file: "{{{", want: []string{"decoding"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var s settings
			err := Apply([]byte(tc.file), "TestConfiguration", bind(&s))
			if err == nil {
				t.Fatal("Apply = nil error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestExplainNamesFlagAndKey(t *testing.T) {
	var s settings
	fs := bind(&s)
	errs := field.ErrorList{
		field.Invalid(field.NewPath("sec", "count"), -1, "must be positive"),
		field.Required(field.NewPath("sec", "list").Index(2), "must not be empty"),
		field.Invalid(field.NewPath("sec", "hidden"), 0, "internal"),
	}
	err := Explain(errs, fs)
	want := `--count (sec.count): Invalid value: -1: must be positive; --list (sec.list[2]): Required value: must not be empty; sec.hidden: Invalid value: 0: internal`
	if err == nil || err.Error() != want {
		t.Errorf("Explain = %v\nwant %s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || len(e.List) != 3 {
		t.Errorf("errors.As gives %v, want the list back", e)
	}
	if Explain(nil, fs) != nil {
		t.Error("Explain(nil) is not nil")
	}
}

// FuzzApply feeds arbitrary bytes to the decoder with a small flag set: it must never panic,
// and a file it accepts must leave every flag's value printable.
func FuzzApply(f *testing.F) {
	f.Add([]byte(head + "name: nm\nsec:\n  enabled: true\n  count: 2\n  wait: 1s\n  list: [a]\n  deep: {nested: 1}\n  special: {k: 1}\n"))
	f.Add([]byte(`{"apiVersion":"config.pullguard.io/v1alpha1","kind":"TestConfiguration","sec":{"list":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s settings
		fs := bind(&s)
		if err := Apply(data, "TestConfiguration", fs); err != nil {
			return
		}
		fs.VisitAll(func(fl *pflag.Flag) { _ = fl.Value.String() })
	})
}
