package image

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"strings"
)

// StorePaths lists the /nix/store paths the base image's layers hold (a
// store path counts if any layer has an entry /nix/store/<name> or below
// it). With --from BASE, what the base already holds is not added again.
func (b *Base) StorePaths() (map[string]bool, error) {
	out := map[string]bool{}
	for _, l := range b.Layers {
		pr, pw := io.Pipe()
		go func() {
			_, err := l.write(pw)
			pw.CloseWithError(err)
		}()
		tr := tar.NewReader(pr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				pr.CloseWithError(err)
				return nil, fmt.Errorf("listing store paths of base layer %s: %w", l.DiffID, err)
			}
			name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
			rest, ok := strings.CutPrefix(name, "nix/store/")
			if !ok || rest == "" {
				continue
			}
			first, _, _ := strings.Cut(rest, "/")
			if strings.HasPrefix(first, ".wh.") {
				continue // a whiteout removes, it does not hold
			}
			out["/nix/store/"+first] = true
		}
		pr.Close()
	}
	return out, nil
}

// Without returns the closure minus the paths in drop, with references to
// them removed: for a layered image on a base that already holds them.
func (c Closure) Without(drop map[string]bool) Closure {
	out := Closure{}
	for p, info := range c {
		if drop[p] {
			continue
		}
		refs := make([]string, 0, len(info.References))
		for _, r := range info.References {
			if !drop[r] {
				refs = append(refs, r)
			}
		}
		info.References = refs
		out[p] = info
	}
	return out
}
