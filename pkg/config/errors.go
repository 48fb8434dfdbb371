package config

import (
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Error is a validation field.ErrorList whose message names the flag of each field next to its
// file key, so that an operator finds the setting however it was given. errors.As on it gives
// the list back.
type Error struct {
	List  field.ErrorList
	flags map[string]string
}

// Explain returns errs as an *Error naming the flags of fs, or nil when errs is empty.
func Explain(errs field.ErrorList, fs *pflag.FlagSet) error {
	return ExplainWith(errs, FlagsByKey(fs))
}

// ExplainWith is Explain with a key-to-flag table from FlagsByKey.
func ExplainWith(errs field.ErrorList, flags map[string]string) error {
	if len(errs) == 0 {
		return nil
	}
	return &Error{List: errs, flags: flags}
}

func (e *Error) Error() string {
	msgs := make([]string, len(e.List))
	for i, fe := range e.List {
		msgs[i] = Label(e.flags, fe.Field) + ": " + fe.ErrorBody()
	}
	return strings.Join(msgs, "; ")
}

// Label is how a message names the field at path: "--max-budget (admission.maxBudget)", or the
// path alone for a field no flag sets.
func Label(flags map[string]string, path string) string {
	key, _, _ := strings.Cut(path, "[") // list indexes and map keys share their list's flag
	if f, ok := flags[key]; ok {
		return f + " (" + path + ")"
	}
	return path
}
