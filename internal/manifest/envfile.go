package manifest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
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

// EnvFiles are environment files as read, checked one by one and together:
// nd-push uploads their contents, the agent's runtime passes Vars to the
// container.
type EnvFiles struct {
	Paths    []string
	Contents [][]byte
	// Vars are the variables of all files, a later file's winning.
	Vars map[string]string
}

// ReadEnvFiles reads and checks the environment files at paths (the
// limits of each and of all together); errors name the file, never its
// content.
func ReadEnvFiles(paths []string) (*EnvFiles, error) {
	e := &EnvFiles{Paths: paths, Vars: map[string]string{}}
	total := 0
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("reading environment file: %w", err)
		}
		if fi.Size() > MaxEnvBytes { // before reading a huge file into memory
			return nil, fmt.Errorf("environment file %s: %d bytes, the limit is %d (1 MiB)", p, fi.Size(), MaxEnvBytes)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading environment file: %w", err)
		}
		kv, err := ParseEnvFile(p, data)
		if err != nil {
			return nil, err
		}
		for k, v := range kv {
			e.Vars[k] = v
		}
		e.Contents = append(e.Contents, data)
		total += len(data)
	}
	if total > MaxEnvBytes {
		return nil, fmt.Errorf("environment files %s: %d bytes together, the limit is %d (1 MiB)", strings.Join(paths, ", "), total, MaxEnvBytes)
	}
	return e, nil
}
