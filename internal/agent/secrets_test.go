package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nd-project/nd/internal/proto"
)

func writeSet(t *testing.T, a *Agent, app string, files ...string) string {
	t.Helper()
	var contents [][]byte
	for _, f := range files {
		contents = append(contents, []byte(f))
	}
	hash := proto.SecretsHash(contents)
	dir := SecretsDir(a.cfg.StateDir, app, hash)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		if err := os.WriteFile(filepath.Join(dir, []string{"0", "1", "2"}[i]+".env"), []byte(f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return hash
}

func TestSecretFiles(t *testing.T) {
	a := New(Config{StateDir: t.TempDir()})
	hash := writeSet(t, a, "app", "A=1\n", "B=2\n")
	files, err := a.secretFiles("app", hash)
	if err != nil || len(files) != 2 || filepath.Base(files[0]) != "0.env" || filepath.Base(files[1]) != "1.env" {
		t.Fatalf("secretFiles = %v, %v; want 0.env, 1.env", files, err)
	}
	if files, err := a.secretFiles("app", ""); err != nil || files != nil {
		t.Errorf("secretFiles of no set = %v, %v; want nothing", files, err)
	}
	// A changed file no longer matches its set's name.
	if err := os.WriteFile(files[1], []byte("B=3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.secretFiles("app", hash); err == nil {
		t.Errorf("secretFiles accepted a file that does not match the hash")
	}
	for _, bad := range []string{"../../etc", "0123456789abcdef0123456789abcdeZ", "00"} {
		if _, err := a.secretFiles("app", bad); err == nil {
			t.Errorf("secretFiles(%q) accepted a bad hash", bad)
		}
	}
	if _, err := a.secretFiles("app", proto.SecretsHash([][]byte{[]byte("gone")})); err == nil {
		t.Errorf("secretFiles of a set never uploaded succeeded")
	}
}

func TestPruneSecrets(t *testing.T) {
	now := time.Now()
	a := New(Config{StateDir: t.TempDir(), Now: func() time.Time { return now }})
	used := writeSet(t, a, "app", "A=1\n")
	old := writeSet(t, a, "app", "A=2\n")
	fresh := writeSet(t, a, "app", "A=3\n")
	past := now.Add(-2 * secretsMinAge)
	for _, h := range []string{used, old} {
		os.Chtimes(SecretsDir(a.cfg.StateDir, "app", h), past, past)
	}
	a.pruneSecrets(&appState{App: "app", Generations: []proto.Generation{{Number: 1, Secrets: used}}})
	for h, want := range map[string]bool{used: true, old: false, fresh: true} {
		_, err := os.Stat(SecretsDir(a.cfg.StateDir, "app", h))
		if got := err == nil; got != want {
			t.Errorf("after pruning, set %s exists = %v, want %v", h, got, want)
		}
	}
}
