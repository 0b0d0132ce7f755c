package cli

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeELF writes the 64-byte header of a little-endian ELF64 executable
// for machine: all debug/elf needs to tell the architecture.
func writeELF(t *testing.T, path string, machine elf.Machine) {
	t.Helper()
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: 1, Ehsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := binary.Write(f, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
}

// TestPickAgentBinary: install-agent picks the nd-agent built for the
// droplet's `uname -m` among those beside nd-push, and otherwise says
// where it looked and what it found.
func TestPickAgentBinary(t *testing.T) {
	dir := t.TempDir()
	writeELF(t, filepath.Join(dir, "nd-agent"), elf.EM_X86_64)
	writeELF(t, filepath.Join(dir, "nd-agent-linux-arm64"), elf.EM_AARCH64)
	macho := filepath.Join(t.TempDir(), "nd-agent")
	os.WriteFile(macho, []byte("\xcf\xfa\xed\xfe not elf"), 0o755)

	for _, tc := range []struct {
		given, dir, uname, want string
	}{
		{"", dir, "x86_64", filepath.Join(dir, "nd-agent")},
		{"", dir, "aarch64", filepath.Join(dir, "nd-agent-linux-arm64")},
		{"", dir, "arm64", filepath.Join(dir, "nd-agent-linux-arm64")},
		{filepath.Join(dir, "nd-agent"), "/nowhere", "x86_64", filepath.Join(dir, "nd-agent")},
	} {
		got, err := pickAgentBinary(tc.given, tc.dir, tc.uname)
		if err != nil || got != tc.want {
			t.Errorf("pickAgentBinary(%q, %q, %q) = %q, %v; want %q", tc.given, tc.dir, tc.uname, got, err, tc.want)
		}
	}

	for _, tc := range []struct {
		name, given, dir, uname string
		want                    []string
	}{
		{"only the other arch", "", filepath.Dir(macho), "x86_64", []string{"nd-agent-linux-amd64 (missing)", "(not a Linux executable", "GOARCH=amd64"}},
		{"wrong arch", "", t.TempDir(), "aarch64", []string{"linux-arm64/nd-agent (missing)", "GOOS=linux GOARCH=arm64"}},
		{"given for the other arch", filepath.Join(dir, "nd-agent"), dir, "aarch64", []string{"built for linux/amd64", "GOARCH=arm64"}},
		{"unsupported host", "", dir, "riscv64", []string{"amd64 and arm64", "riscv64"}},
	} {
		_, err := pickAgentBinary(tc.given, tc.dir, tc.uname)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: pickAgentBinary = %v, want an error containing %q", tc.name, err, w)
			}
		}
	}
	// A directory per architecture comes before a plain nd-agent.
	writeELF(t, filepath.Join(dir, "linux-amd64", "nd-agent"), elf.EM_X86_64)
	if got, err := pickAgentBinary("", dir, "x86_64"); err != nil || got != filepath.Join(dir, "linux-amd64", "nd-agent") {
		t.Errorf("with linux-amd64/nd-agent: %q, %v", got, err)
	}
}
