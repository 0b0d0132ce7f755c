package cli

import (
	"context"
	"fmt"

	"github.com/nd-project/nd/internal/manifest"
)

// pushImage deploys pkg as a full layered image, for hosts without Nix.
func pushImage(ctx context.Context, env *Env, h *host, pkg string, m *manifest.Manifest, o *pushOptions, res *pushResult) error {
	return fmt.Errorf("%s has no usable Nix and image mode is not available yet", h.name)
}
