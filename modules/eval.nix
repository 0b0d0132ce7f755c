# Evaluates nd's modules with a nixpkgs lib and returns what build.nix and the
# flake's lib.ndConfiguration hand out:
#   { package, config, options, manifest, pkgs, extendModules }
# package is the deploy package once the assertions hold (it throws their
# messages otherwise) and the warnings were traced; extendModules returns the
# same shape, so nd-push can add nd-init to a flake's configuration.
{ lib, pkgs, modules, specialArgs ? { } }:
let
  result = eval:
    let
      config = eval.config;
      failed = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
      package =
        if failed != [ ]
        then throw "\nFailed assertions:\n${builtins.concatStringsSep "\n" (map (m: "- ${m}") failed)}"
        else builtins.foldl' (acc: w: builtins.trace "warning: ${w}" acc) config.system.build.ndPackage config.warnings;
    in
    {
      inherit package config;
      inherit (eval) options;
      manifest = config.nd.manifest;
      pkgs = eval._module.args.pkgs;
      extendModules = args: result (eval.extendModules args);
    };
in
result (lib.evalModules {
  inherit specialArgs;
  modules = import ./module-list.nix ++ [ ({ ... }: { _module.args.pkgs = pkgs; }) ] ++ modules;
})
