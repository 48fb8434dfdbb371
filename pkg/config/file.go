package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

const (
	// APIVersion is the apiVersion of every pullguard config file.
	APIVersion = "config.pullguard.io/v1alpha1"
	// MaxFileBytes bounds a config file; a real one is a few KiB.
	MaxFileBytes = 1 << 20
)

// LoadFile reads the config file at path, of the given kind, and applies it onto the flags of
// fs: each key the file sets is set through its flag's value, which writes the bound field.
// Reading is bounded, so a path such as /dev/zero fails instead of exhausting memory.
func LoadFile(path, kind string, fs *pflag.FlagSet) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening config file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return fmt.Errorf("reading config file: %w", err)
	}
	if len(data) > MaxFileBytes {
		return fmt.Errorf("config file %s is larger than %d bytes", path, MaxFileBytes)
	}
	if err := Apply(data, kind, fs); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// Apply decodes data, YAML or JSON, as a config file of the given kind and sets each key it
// holds through the flag of fs bound to that key. It reports every unknown key and every bad
// value, not only the first.
func Apply(data []byte, kind string, fs *pflag.FlagSet) error {
	// YAMLToJSONStrict rejects duplicate keys.
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(js, &top); err != nil {
		return fmt.Errorf("decoding: the file must be a mapping: %w", err)
	}
	var apiVersion, k string
	if err := errors.Join(decodeString(top["apiVersion"], &apiVersion), decodeString(top["kind"], &k)); err != nil {
		return fmt.Errorf("decoding: apiVersion and kind: %w", err)
	}
	switch {
	case apiVersion == "" || k == "":
		return errors.New("apiVersion and kind are required")
	case apiVersion != APIVersion:
		return fmt.Errorf("apiVersion %q is not supported, want %q", apiVersion, APIVersion)
	case k != kind:
		return fmt.Errorf("kind %q is not supported, want %q", k, kind)
	}
	delete(top, "apiVersion")
	delete(top, "kind")
	d := decoder{flags: flagsByKey(fs)}
	d.walk("", top)
	return errors.Join(d.errs...)
}

// decoder walks a decoded file against the keys of a flag set.
type decoder struct {
	flags map[string]*pflag.Flag
	errs  []error
}

func (d *decoder) walk(prefix string, m map[string]json.RawMessage) {
	for _, name := range slices.Sorted(maps.Keys(m)) {
		key, raw := name, m[name]
		if prefix != "" {
			key = prefix + "." + name
		}
		if isNull(raw) {
			continue // null keeps the default, as an absent key does
		}
		if f, ok := d.flags[key]; ok {
			if err := set(f.Value, raw); err != nil {
				d.errs = append(d.errs, fmt.Errorf("%s: %w", key, err))
			}
			continue
		}
		if !d.isSection(key) {
			d.errs = append(d.errs, fmt.Errorf("unknown field %q", key))
			continue
		}
		var sub map[string]json.RawMessage
		if err := json.Unmarshal(raw, &sub); err != nil {
			d.errs = append(d.errs, fmt.Errorf("%s: must be a mapping", key))
			continue
		}
		d.walk(key, sub)
	}
}

// isSection reports whether key has bound keys below it.
func (d *decoder) isSection(key string) bool {
	for k := range d.flags {
		if strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

// set gives raw to v in the form the flag's value takes.
func set(v pflag.Value, raw json.RawMessage) error {
	if u, ok := v.(json.Unmarshaler); ok {
		return u.UnmarshalJSON(raw)
	}
	if s, ok := v.(pflag.SliceValue); ok {
		list := []string{} // "[]" clears a default list: never nil
		if err := strictJSON(raw, &list); err != nil {
			return errors.New("must be a list of strings")
		}
		return s.Replace(list)
	}
	switch v.Type() {
	case "bool":
		var b bool
		if err := strictJSON(raw, &b); err != nil {
			return errors.New("must be true or false")
		}
		return v.Set(fmt.Sprint(b))
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		var n json.Number
		if err := strictJSON(raw, &n); err != nil {
			return errors.New("must be a number")
		}
		return v.Set(n.String())
	default:
		var s string
		if err := decodeString(raw, &s); err != nil {
			if v.Type() == "duration" {
				return errors.New(`must be a duration string such as "2s" or "500ms"`)
			}
			return err
		}
		return v.Set(s)
	}
}

func decodeString(raw json.RawMessage, s *string) error {
	if raw == nil || isNull(raw) {
		return nil
	}
	if err := strictJSON(raw, s); err != nil {
		return errors.New("must be a string")
	}
	return nil
}

// strictJSON decodes raw into v: a JSON number only into a json.Number, never a string into one.
func strictJSON(raw json.RawMessage, v any) error {
	if _, ok := v.(*json.Number); ok {
		if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] == '"' {
			return errors.New("not a number")
		}
	}
	return json.Unmarshal(raw, v)
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }
