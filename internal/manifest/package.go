package manifest

import (
	"fmt"
	"os"
	"path/filepath"
)

// Package is a deploy package as it travels through nd-push: its store path
// and its manifest, read once (by nixbuild.Build, or LoadPackage for one
// built before) and passed along rather than read again.
type Package struct {
	// Path is the package's store path, a directory holding FileName.
	Path string
	// Manifest is FileName parsed and validated.
	Manifest *Manifest
	// JSON is FileName's bytes as built: image mode sends them to the agent,
	// which keeps them beside the generation.
	JSON []byte
}

// ParsePackage is the package at path whose manifest is data.
func ParsePackage(path string, data []byte) (*Package, error) {
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(path, FileName), err)
	}
	return &Package{Path: path, Manifest: m, JSON: data}, nil
}

// LoadPackage reads the deploy package at path.
func LoadPackage(path string) (*Package, error) {
	data, err := os.ReadFile(filepath.Join(path, FileName))
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	return ParsePackage(path, data)
}
