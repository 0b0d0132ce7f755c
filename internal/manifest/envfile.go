package manifest

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Limits on a container's environment. Linux refuses to exec a program
// whose single argument or variable is MAX_ARG_STRLEN (128 KiB) or more,
// and whose arguments and environment together pass a quarter of the stack
// limit (2 MiB by default), both with "argument list too long" — long after
// the deploy began. These limits refuse such input before anything is
// uploaded or changed on a host.
const (
	// MaxEnvEntry bounds one KEY=VALUE (with its NUL, as execve counts).
	MaxEnvEntry = 128 << 10
	// MaxEnvBytes bounds docker.env, and separately the environment files
	// together (and so each one), leaving room for arguments.
	MaxEnvBytes = 1 << 20
)

// ParseEnvFile parses an environment file like `docker run --env-file`:
// KEY=VALUE per line, blank lines and '#' comments skipped. name is for
// messages only; errors never quote the content (it is secret).
func ParseEnvFile(name string, data []byte) (map[string]string, error) {
	if len(data) > MaxEnvBytes {
		return nil, fmt.Errorf("environment file %s: %d bytes, the limit is %d (1 MiB)", name, len(data), MaxEnvBytes)
	}
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, MaxEnvBytes+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\x00") || strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("environment file %s line %d: want KEY=VALUE", name, n)
		}
		if len(line) >= MaxEnvEntry {
			return nil, fmt.Errorf("environment file %s line %d: variable %s is %d bytes, the limit of one variable is %d", name, n, k, len(line), MaxEnvEntry-1)
		}
		vals[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("environment file %s: %w", name, err)
	}
	return vals, nil
}

// CheckEnvFiles checks environment files' contents, one by one and
// together; names are for messages.
func CheckEnvFiles(names []string, contents [][]byte) error {
	total := 0
	for i, data := range contents {
		if _, err := ParseEnvFile(names[i], data); err != nil {
			return err
		}
		total += len(data)
	}
	if total > MaxEnvBytes {
		return fmt.Errorf("environment files %s: %d bytes together, the limit is %d (1 MiB)", strings.Join(names, ", "), total, MaxEnvBytes)
	}
	return nil
}
