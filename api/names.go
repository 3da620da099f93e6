package api

import (
	"regexp"
	"strings"
)

var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidName checks an app or database name: a DNS label (lowercase letters,
// digits and '-', 1 to 63 characters, no '-' at either end), since it
// becomes a host name, a container id and a path component.
func ValidName(kind, name string) error {
	if !labelRE.MatchString(name) {
		return Errorf(CodeBadRequest, "%s name %q is not valid: use 1 to 63 lowercase letters, digits and '-', not starting or ending with '-' (like my-app)", kind, name)
	}
	return nil
}

var envRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidEnvName checks an environment variable's name.
func ValidEnvName(name string) error {
	if !envRE.MatchString(name) || len(name) > 255 {
		return Errorf(CodeBadRequest, "environment variable name %q is not valid: use letters, digits and '_', not starting with a digit", name)
	}
	return nil
}

// ValidDomain checks a custom domain: lower-case DNS labels, at least two,
// at most 253 characters in all.
func ValidDomain(name string) error {
	bad := Errorf(CodeBadRequest, "domain %q is not valid: use a lower-case name like www.example.com", name)
	if len(name) > 253 || !strings.Contains(name, ".") {
		return bad
	}
	for _, label := range strings.Split(name, ".") {
		if !labelRE.MatchString(label) {
			return bad
		}
	}
	return nil
}
