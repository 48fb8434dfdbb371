// Package config binds pullguard's settings, once each, to a command-line flag and to a key of
// the versioned config file (apiVersion config.pullguard.io/v1alpha1), and renders validation
// errors with the flag and the key of each field.
//
// There are no separate versioned Go types for the file, and that is deliberate. A setting is a
// field of the options struct of the package that uses it (registry.Options for the registry
// engine, admission.Config for the admission policy, each program's own options for the rest).
// That package binds the field with one Binder call, which names the flag and the file key
// together, and validates it under that key. The file is decoded onto the defaults through the
// same flags, and the command line is then parsed on top, so flags win and the two spellings
// cannot disagree on a name, a type or a default. A mirror struct per program would be a second
// definition of every setting, and a copy to keep in step in every program that embeds the
// registry engine.
//
// The sections are shared: every kind of the config.pullguard.io/v1alpha1 group (the webhook's
// WebhookConfiguration, a CLI's or a re-verifier's own kind) holds the registry engine's
// settings under "registry" and the admission policy's under "admission", which is what the
// packages' AddFlags bind. A program gets them by calling those AddFlags on its flag set and
// LoadFile with its kind; see registry.Options.AddFlags.
//
// The file is strict: an unknown key (matched case-sensitively), a duplicate key, a value of the
// wrong JSON type, a wrong apiVersion or kind are errors. A key set to null keeps its default; a
// list given in the file, even empty, replaces the default list.
package config
