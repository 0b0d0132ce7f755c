// Package depcheck holds only a test: it checks the dependency rules that keep
// nd's architecture honest (nd-push never links the Docker client; nd-agent
// and nd-init never link the CLI or the SSH client).
package depcheck
