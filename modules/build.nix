# Entry point: nix-build build.nix --arg configuration /abs/config.nix
#   --arg ndInit /dir/with/bin/nd-init --arg busybox /dir/with/bin/busybox
#   [--arg nixpkgs /path/to/nixpkgs] [--argstr name app] [--arg extraPkgs /file.nix]
# builds the deploy package (a store directory holding nd-manifest.json).
#
# With nixpkgs: its lib.evalModules and `import nixpkgs {}` as pkgs.
# Without (null): the offline module system in ./lib and the offline pkgs in ./pkgs.
# extraPkgs: a file (or function) pkgs -> { name = drv; } adding packages to pkgs.
{ configuration
, ndInit
, busybox
, nixpkgs ? null
, name ? null
, extraPkgs ? null
, system ? builtins.currentSystem
}:
let
  lib = if nixpkgs == null then import ./lib else import (nixpkgs + "/lib");

  extraFn =
    if extraPkgs == null then null
    else if builtins.isFunction extraPkgs then extraPkgs
    else import extraPkgs;

  pkgs =
    if nixpkgs == null then import ./pkgs { inherit busybox lib system; extraPkgs = extraFn; }
    else
      let base = import nixpkgs { inherit system; };
      in if extraFn == null then base else base // extraFn base;

  init = builtins.path { path = ndInit; name = "nd-init"; };

  eval = lib.evalModules {
    modules = import ./module-list.nix ++ [
      ({ ... }: { _module.args.pkgs = pkgs; })
      {
        nd.init = init;
        nd.configDir = if builtins.isPath configuration || builtins.isString configuration
          then toString (dirOf configuration) else "/";
      }
      (if name == null then { } else { nd.appName = name; })
      configuration
    ];
  };

  config = eval.config;
  failed = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
  checked =
    if failed != [ ]
    then throw "\nFailed assertions:\n${builtins.concatStringsSep "\n" (map (m: "- ${m}") failed)}"
    else builtins.foldl' (acc: w: builtins.trace "warning: ${w}" acc) config.system.build.ndPackage config.warnings;
in
checked // { inherit config; inherit (eval) options; manifest = config.nd.manifest; }
