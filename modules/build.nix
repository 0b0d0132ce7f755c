# Entry point: nix-build build.nix --arg configuration /abs/config.nix
#   --arg lib /nixpkgs/lib --arg ndInit /dir/with/bin/nd-init
#   --arg busybox /dir/with/bin/busybox [--arg nixpkgs /path/to/nixpkgs]
#   [--argstr name app] [--arg extraPkgs /file.nix]
# builds the deploy package (a store directory holding nd-manifest.json).
#
# lib is always nixpkgs' lib (a nixpkgs checkout's lib/ or nixpkgs.lib's).
# pkgs: `import nixpkgs {}` when nixpkgs is given, else nd's offline pkgs
# (./pkgs: trivial builders and busybox).
# extraPkgs: a file (or function) pkgs -> { name = drv; } adding packages to pkgs.
{ configuration
, lib
, ndInit
, busybox
, nixpkgs ? null
, name ? null
, extraPkgs ? null
, system ? builtins.currentSystem
}:
let
  nixLib = import lib;

  extraFn =
    if extraPkgs == null then null
    else if builtins.isFunction extraPkgs then extraPkgs
    else import extraPkgs;

  pkgs =
    if nixpkgs == null then import ./pkgs { inherit busybox system; lib = nixLib; extraPkgs = extraFn; }
    else
      let base = import nixpkgs { inherit system; };
      in if extraFn == null then base else base // extraFn base;

  r = import ./eval.nix {
    lib = nixLib;
    inherit pkgs;
    modules = [
      {
        nd.init = builtins.path { path = ndInit; name = "nd-init"; };
        nd.configDir = if builtins.isPath configuration || builtins.isString configuration
          then toString (dirOf configuration) else "/";
      }
      (if name == null then { } else { nd.appName = name; })
      configuration
    ];
  };
in
r.package // { inherit (r) config options manifest; }
