package proto

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// SecretsHash names a set of secret env files by their contents, in order:
// nd-push uploads them to the agent's apps/<app>/secrets/<hash>/ and sends
// the hash in Deploy.Secrets; the agent checks the files against it. Equal
// contents give equal hashes, so an unchanged secret is no reason to
// redeploy, and a changed one is.
func SecretsHash(contents [][]byte) string {
	if len(contents) == 0 {
		return ""
	}
	h := sha256.New()
	h.Write([]byte("nd-secrets-v1\x00"))
	var n [8]byte
	for _, c := range contents {
		binary.BigEndian.PutUint64(n[:], uint64(len(c)))
		h.Write(n[:])
		h.Write(c)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// ValidSecretsHash reports whether s looks like a SecretsHash ("" included).
func ValidSecretsHash(s string) bool {
	if s == "" {
		return true
	}
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
