package config

import (
	"time"

	"github.com/spf13/pflag"
)

// keyAnnotation is the pflag annotation that holds a flag's config-file key.
const keyAnnotation = "config.pullguard.io/key"

// Binder registers flags that are also keys of the config file, under one section of it. A
// flag's default is the field's current value: that is what lets the command line, parsed on
// top of a loaded file, change only the flags it gives.
type Binder struct {
	fs      *pflag.FlagSet
	section string
}

// NewBinder binds into fs under section ("registry", "admission"; "" for the top level).
func NewBinder(fs *pflag.FlagSet, section string) Binder {
	return Binder{fs: fs, section: section}
}

// Key returns the file key of key in b's section, as the field paths of validation errors
// spell it ("registry.cache.size").
func (b Binder) Key(key string) string {
	if b.section == "" {
		return key
	}
	return b.section + "." + key
}

// Var binds any pflag.Value. A value that implements json.Unmarshaler receives the key's JSON
// as is (for structured settings a flag spells in short); a pflag.SliceValue receives a list of
// strings; any other value receives the text of a JSON bool, number or string, by its Type.
func (b Binder) Var(v pflag.Value, flag, key, usage string) {
	b.fs.Var(v, flag, usage)
	b.annotate(flag, key)
}

// String binds a string, or a named string type through a conversion: (*string)(&c.Mode).
func (b Binder) String(p *string, flag, key, usage string) {
	bindVar(b, b.fs.StringVar, p, flag, key, usage)
}

// Bool binds a bool.
func (b Binder) Bool(p *bool, flag, key, usage string) { bindVar(b, b.fs.BoolVar, p, flag, key, usage) }

// Int binds an int.
func (b Binder) Int(p *int, flag, key, usage string) { bindVar(b, b.fs.IntVar, p, flag, key, usage) }

// Int64 binds an int64.
func (b Binder) Int64(p *int64, flag, key, usage string) {
	bindVar(b, b.fs.Int64Var, p, flag, key, usage)
}

// Float32 binds a float32.
func (b Binder) Float32(p *float32, flag, key, usage string) {
	bindVar(b, b.fs.Float32Var, p, flag, key, usage)
}

// Duration binds a time.Duration, written as a Go duration string ("8s", "500ms") in both.
func (b Binder) Duration(p *time.Duration, flag, key, usage string) {
	bindVar(b, b.fs.DurationVar, p, flag, key, usage)
}

// StringSlice binds a list: comma-separated or repeated on the command line, a YAML list in
// the file.
func (b Binder) StringSlice(p *[]string, flag, key, usage string) {
	bindVar(b, b.fs.StringSliceVar, p, flag, key, usage)
}

// bindVar registers p with one of pflag's typed XxxVar functions, its current value as the default.
func bindVar[T any](b Binder, register func(p *T, name string, value T, usage string), p *T, flag, key, usage string) {
	register(p, flag, *p, usage)
	b.annotate(flag, key)
}

// annotate records the flag's file key; SetAnnotation only fails for a flag that does not exist,
// and it was just added.
func (b Binder) annotate(flag, key string) {
	_ = b.fs.SetAnnotation(flag, keyAnnotation, []string{b.Key(key)})
}

// FlagsByKey maps the file key of every flag of fs that has one to the flag, as "--name".
func FlagsByKey(fs *pflag.FlagSet) map[string]string {
	out := map[string]string{}
	fs.VisitAll(func(f *pflag.Flag) {
		if k := f.Annotations[keyAnnotation]; len(k) == 1 {
			out[k[0]] = "--" + f.Name
		}
	})
	return out
}

// flagsByKey is FlagsByKey with the flags themselves.
func flagsByKey(fs *pflag.FlagSet) map[string]*pflag.Flag {
	out := map[string]*pflag.Flag{}
	fs.VisitAll(func(f *pflag.Flag) {
		if k := f.Annotations[keyAnnotation]; len(k) == 1 {
			out[k[0]] = f
		}
	})
	return out
}
