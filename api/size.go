package api

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSize reads a memory size: plain bytes, or a number with K, M, G or T
// (powers of 1024; "Mi", "MB" and "MiB" mean the same).
func ParseSize(s string) (int64, error) {
	v := strings.TrimSpace(s)
	up := strings.ToUpper(v)
	for _, suf := range []string{"IB", "B", "I"} {
		if strings.HasSuffix(up, suf) && len(up) > len(suf) {
			up = strings.TrimSuffix(up, suf)
			break
		}
	}
	mult := int64(1)
	if n := len(up); n > 0 {
		switch up[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			up = up[:n-1]
		}
	}
	f, err := strconv.ParseFloat(up, 64)
	if err != nil || f <= 0 || f*float64(mult) > 1<<50 {
		return 0, fmt.Errorf("size %q is not valid: use a number with K, M or G, like 256M or 1G", s)
	}
	return int64(f * float64(mult)), nil
}
