package cli

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// readInventory reads a hosts file for `nd-push --hosts FILE`: one target
// ([user@]host[:port] or an ssh_config alias) per line; blank lines and
// everything after '#' are ignored.
func readInventory(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, usagef("--hosts: %v", err)
	}
	defer f.Close()
	var hosts []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		switch len(fields) {
		case 0:
			continue
		case 1:
			hosts = append(hosts, fields[0])
		default:
			return nil, usagef("--hosts %s line %d: want one host per line, got %q", file, n, strings.TrimSpace(line))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if len(hosts) == 0 {
		return nil, usagef("--hosts %s lists no hosts", file)
	}
	return hosts, nil
}
