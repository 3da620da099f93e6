// Package config layers a daemon's settings: command-line flags win over
// GASPER_* environment variables, which win over a YAML file, which wins over
// the flags' defaults.
//
// The flag set is the single list of settings: each flag --some-name is also
// GASPER_SOME_NAME in the environment and some_name in the file, so a new
// setting is one flag definition. gasper-master and gasper-agent use it.
package config
