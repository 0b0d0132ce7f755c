// Package depcheck holds only tests of the code's shape: an allow-list, per command, of the nd
// packages and third-party modules the command may link. It keeps nd's
// architecture honest: nd-push never links the Docker client or the agent's
// registry, nd-agent never links the CLI, SSH or progress bars, nd-init links
// nothing but its supervisor. A new dependency is a decision: add it to the
// command's list in depcheck_test.go in the change that needs it. A second
// test keeps every non-test Go file under 500 lines, so each reads in one
// sitting.
package depcheck
