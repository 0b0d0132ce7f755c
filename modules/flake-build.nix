# Entry point for flakes: nix-build flake-build.nix --argstr flake REF
#   --argstr attr NAME --arg ndInit /dir/with/bin/nd-init --arg busybox /dir/with/bin/busybox
#   [--argstr name APP]
# builds the deploy package of REF's ndConfigurations.NAME (made with nd's
# lib.ndConfiguration). nd-push supplies nd-init (the one beside it, as for
# config.nix) and, when the configuration uses nd's offline pkgs (the flake's
# legacyPackages, which cannot reach a host busybox in pure evaluation), a
# busybox for them. Needs the nix-command and flakes features and a locked
# flake (nd-push runs `nix flake metadata` first).
{ flake, attr, ndInit, busybox, name ? null }:
let
  f = builtins.getFlake flake;
  cfgs = f.ndConfigurations or (throw
    "flake ${flake} has no ndConfigurations output; define ndConfigurations.${attr} = nd.lib.ndConfiguration { pkgs = ...; modules = [ ... ]; }");
  cfg = cfgs.${attr} or (throw
    "flake ${flake} has no ndConfigurations.${attr}; it has: ${builtins.concatStringsSep ", " (builtins.attrNames cfgs)}");
  offline = cfg.pkgs.ndOffline or false;
  ext = cfg.extendModules {
    modules = [
      ({ lib, ... }: {
        nd.init = builtins.path { path = ndInit; name = "nd-init"; };
        nd.appName = if name == null then lib.mkDefault attr else name;
      } // lib.optionalAttrs offline {
        _module.args.pkgs = lib.mkForce (import ./pkgs { inherit busybox lib; inherit (cfg.pkgs) system; });
      })
    ];
  };
in
ext.package // { inherit (ext) config options manifest; }
