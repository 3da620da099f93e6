package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// EnvName returns the environment variable for a flag name: "data-dir" ->
// "GASPER_DATA_DIR".
func EnvName(flag string) string {
	return "GASPER_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// FileKey returns the YAML key for a flag name: "data-dir" -> "data_dir".
func FileKey(flag string) string { return strings.ReplaceAll(flag, "-", "_") }

// Apply fills every flag of fs that was not set on the command line from the
// environment, then from the YAML file at path (skipped when path is empty).
// Flags named in skip are left alone (the config file flag itself, say).
// Unknown keys in the file are an error, so a typo does not go unnoticed.
func Apply(fs *pflag.FlagSet, path string, skip ...string) error {
	file := map[string]any{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read config file: %w", err)
		}
		if err := yaml.Unmarshal(b, &file); err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
		if file == nil {
			file = map[string]any{}
		}
	}
	skipped := map[string]bool{}
	for _, s := range skip {
		skipped[s] = true
	}
	known := map[string]bool{}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		key := FileKey(f.Name)
		known[key] = true
		if f.Changed || skipped[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("environment %s=%q: %w", EnvName(f.Name), v, err))
			}
			return
		}
		if v, ok := file[key]; ok {
			if err := fs.Set(f.Name, scalar(v)); err != nil {
				errs = append(errs, fmt.Errorf("config file %s: %s: %w", path, key, err))
			}
		}
	})
	var unknown []string
	for k := range file {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		errs = append(errs, fmt.Errorf("config file %s: unknown settings %s", path, strings.Join(unknown, ", ")))
	}
	return errors.Join(errs...)
}

// scalar renders a YAML value the way a flag would be written; lists become
// comma-separated, which is what slice flags parse.
func scalar(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, e := range list {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}
