// Package nixpkgslib runs nixpkgs' own module-system suite
// (lib/tests/modules.sh) on the nixpkgs lib snapshot that tests and CI
// evaluate nd's modules with (testutil.NixpkgsLib), and prints its figure.
// nd has no module system of its own (modules/lib was retired: 265 of 407
// checks against nixpkgs' lib's 396 on Nix 2.8); this suite shows the lib
// nd requires works on the machine's Nix. Only tests live here.
package nixpkgslib
