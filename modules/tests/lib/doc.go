// Package libtest checks nd's offline module-system evaluator
// (modules/lib) case by case: each directory under cases/ holds a
// main.nix taking { lib } and either expected.json (the value
// `nix-instantiate --eval --strict --json` must produce) or
// expected-error.txt (substrings the error must contain, whitespace
// collapsed; @DIR@ is the case directory, @CASES@ its parent; lines starting
// "offline: " are required of the offline lib only). When
// ND_NIXPKGS_LIB names a nixpkgs lib, every case is also evaluated with it
// and the two results are compared, so the same module files keep giving
// the same results on both evaluators. Only tests live here.
package libtest
