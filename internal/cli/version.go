package cli

// Version is nd's version, set at link time with
// -ldflags "-X github.com/nd-project/nd/internal/cli.Version=...".
var Version = "dev"
