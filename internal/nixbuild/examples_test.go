package nixbuild_test

import (
	"testing"

	"github.com/nd-project/nd/internal/nixbuild"
)

// exampleOptions returns what an example needs beyond defaults.
func exampleOptions(t *testing.T, name string) func(*nixbuild.Options) {
	return nil
}
