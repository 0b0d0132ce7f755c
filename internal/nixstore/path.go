// Package nixstore knows the Nix store's formats and commands: store path
// syntax, the NAR archive format, the `nix-store --export` stream, and the
// nix-store invocations nd needs (validity queries, export, import). It is
// used on both sides: the agent validates every byte it receives before
// nix-store sees it; the laptop exports. It imports nothing of nd.
package nixstore

import (
	"fmt"
	"strings"
)

// StoreDir is the only store directory nd supports.
const StoreDir = "/nix/store"

// hashLen is the length of the base-32 hash part of a store path name.
const hashLen = 32

// maxNameLen is Nix's limit on the name part after "<hash>-".
const maxNameLen = 211

// base32Chars is Nix's base-32 alphabet (no e, o, u, t).
const base32Chars = "0123456789abcdfghijklmnpqrsvwxyz"

func isBase32(c byte) bool { return strings.IndexByte(base32Chars, c) >= 0 }

func isNameChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("+-._?=", c) >= 0
}

// ValidStorePath checks that p is exactly /nix/store/<hash>-<name>: a 32
// character nix-base32 hash, a name of allowed characters not starting with
// '.', at most 211 characters, and no further path components.
func ValidStorePath(p string) error {
	rest, ok := strings.CutPrefix(p, StoreDir+"/")
	if !ok {
		return fmt.Errorf("store path %q: not in %s", p, StoreDir)
	}
	if len(rest) < hashLen+2 || rest[hashLen] != '-' {
		return fmt.Errorf("store path %q: want %s/<32-char hash>-<name>", p, StoreDir)
	}
	for i := 0; i < hashLen; i++ {
		if !isBase32(rest[i]) {
			return fmt.Errorf("store path %q: hash has character %q outside nix base32", p, rest[i])
		}
	}
	name := rest[hashLen+1:]
	if len(name) > maxNameLen {
		return fmt.Errorf("store path %q: name longer than %d characters", p, maxNameLen)
	}
	if name[0] == '.' {
		return fmt.Errorf("store path %q: name starts with '.'", p)
	}
	for i := 0; i < len(name); i++ {
		if !isNameChar(name[i]) {
			return fmt.Errorf("store path %q: name has forbidden character %q", p, name[i])
		}
	}
	return nil
}

// Name returns the part of a valid store path after the hash and dash.
func Name(p string) string {
	return strings.TrimPrefix(p, StoreDir+"/")[hashLen+1:]
}
