# Evaluates nd's own modules (modules/module-list.nix) on a configuration
# with the given lib and returns the deploy manifest, so that
# TestNdModulesAgreeWithNixpkgs can compare the offline lib with nixpkgs'.
# pkgs is nd's offline package set in both cases; only lib differs.
{ libPath, configuration, busybox, init }:
let
  lib = import libPath;
  pkgs = import ../../pkgs { inherit lib busybox; extraPkgs = null; };
  eval = lib.evalModules {
    modules = import ../../module-list.nix ++ [
      ({ ... }: { _module.args.pkgs = pkgs; })
      { nd.init = init; nd.configDir = toString (dirOf configuration); }
      configuration
    ];
  };
in
eval.config.nd.manifest
