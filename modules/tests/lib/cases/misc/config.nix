{ config, lib, pkgs, options, ... }:
let inherit (lib) mkOption types; in
{
  imports = [ ../common/options.nix ./disabled.nix ];
  disabledModules = [ ./disabled.nix ];

  options.free = mkOption {
    type = types.submodule {
      freeformType = types.attrsOf types.str;
      options.declared = mkOption { type = types.int; default = 1; };
    };
    default = { };
  };
  options.pkg = lib.mkPackageOption pkgs "hello" { };
  options.pkgNested = lib.mkPackageOption pkgs [ "tools" "jq" ] { example = "pkgs.jq"; };
  options.byName = mkOption {
    type = types.attrsOf (types.submodule ({ name, config, ... }: {
      options.value = mkOption { type = types.int; default = 0; };
      options.label = mkOption { type = types.str; default = "${name}=${toString config.value}"; };
      options.argName = mkOption { type = types.str; default = config._module.args.name; };
    }));
    default = { };
  };

  config = {
    free = { extra = "yes"; another = "too"; };
    byName = lib.mkMerge [
      { a.value = 1; }
      { a.value = lib.mkForce 5; b = lib.mkIf true { value = 2; }; c = lib.mkIf false { value = 3; }; }
      { b.label = lib.mkDefault "ignored"; }
    ];
    docker.env = lib.mapAttrs (n: v: toString v.value) config.byName // {
      OPT = "${options.docker.env}";
      PKG = "${config.pkg}";
      NESTED = "${config.pkgNested}";
    };
    docker.ports = lib.mkMerge [ (lib.mkIf (config.byName ? a) [ 1 ]) [ 2 ] ];
  };
}
