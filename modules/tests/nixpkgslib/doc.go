// Package nixpkgslib runs nixpkgs' own module-system suite
// (lib/tests/modules.sh) on the nixpkgs lib snapshot that tests and CI
// evaluate nd's modules with (testutil.NixpkgsLib), and prints its figure.
// nd has no module system of its own (modules/lib was retired: 265 of 407
// checks against nixpkgs' lib's 396 on Nix 2.8, 407 on 2.34); this suite
// shows the lib nd requires works on Debian 12's Nix 2.8 and on Nix 2.34 (a
// chroot of the modern droplets' root filesystem). Only tests live here.
package nixpkgslib
