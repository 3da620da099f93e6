package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// parseMemory reads a memory size: a number of bytes, or a number with a
// unit K, M, G or T (also written Ki/KB, Mi/MB, ...; any case), all powers
// of 1024 as container runtimes take them: "256M", "1G", "512Mi", "1.5g".
func parseMemory(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	t = strings.TrimSuffix(t, "i")
	mult := int64(1)
	if n := len(t); n > 0 {
		if i := strings.IndexByte("kmgt", t[n-1]); i >= 0 {
			mult = int64(1) << (10 * (i + 1))
			t = t[:n-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || f*float64(mult) > math.MaxInt64/2 {
		return 0, fmt.Errorf("invalid memory size %q (examples: 256M, 1G, 512Mi)", s)
	}
	return int64(f * float64(mult)), nil
}

// minMemory is the smallest limit that makes sense for a container; below
// it the user surely forgot the unit.
const minMemory = 4 << 20

// parseEnvPair splits "KEY=VALUE", checking the key.
func parseEnvPair(s string) (key, value string, err error) {
	key, value, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("%q is not KEY=VALUE", s)
	}
	if err := validateEnvKey(key); err != nil {
		return "", "", err
	}
	return key, value, nil
}

// validateEnvKey accepts the names a shell accepts: letters, digits and
// '_', not starting with a digit.
func validateEnvKey(k string) error {
	ok := k != "" && !(k[0] >= '0' && k[0] <= '9')
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("invalid variable name %q: use letters, digits and '_', not starting with a digit", k)
	}
	return nil
}

// readEnvFile reads a .env file: KEY=VALUE lines, blank lines and '#'
// comments, an optional "export " prefix, and values optionally quoted:
// 'single' literally, "double" with \n, \t, \" and \\ escapes. An unquoted
// value ends at " #" (a trailing comment) and is trimmed.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q is not KEY=VALUE", path, n, line)
		}
		key = strings.TrimSpace(key)
		if err := validateEnvKey(key); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		v, err := envValue(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		env[key] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read env file %s: %w", path, err)
	}
	return env, nil
}

// envValue undoes a .env value's quoting.
func envValue(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	switch q := v[0]; q {
	case '\'':
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 {
			return "", fmt.Errorf("unterminated quote in %s", v)
		}
		return v[1 : 1+end], nil
	case '"':
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			c := v[i]
			switch {
			case c == '"':
				return b.String(), nil
			case c == '\\' && i+1 < len(v):
				i++
				switch v[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				default:
					b.WriteByte(v[i])
				}
			default:
				b.WriteByte(c)
			}
		}
		return "", fmt.Errorf("unterminated quote in %s", v)
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v), nil
}
