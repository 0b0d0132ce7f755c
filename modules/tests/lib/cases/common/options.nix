# nd-like option declarations shared by several cases.
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options = {
    app.name = mkOption { type = types.str; default = "app"; description = "Application name."; };
    app.banner = mkOption { type = types.lines; default = ""; };
    docker.ports = mkOption { type = types.listOf types.port; default = [ ]; };
    docker.env = mkOption { type = types.attrsOf types.str; default = { }; };
    docker.mode = mkOption { type = types.enum [ "host-store" "image" ]; default = "host-store"; };
    docker.user = mkOption { type = types.nullOr types.str; default = null; };
    docker.memory = mkOption { type = types.either types.int types.str; default = "512m"; };
    services.redis.enable = lib.mkEnableOption "redis";
    services.redis.port = mkOption { type = types.port; default = 6379; };
    supervisord.services = mkOption {
      default = { };
      type = types.attrsOf (types.submodule ({ name, config, ... }: {
        options = {
          command = mkOption { type = types.str; };
          name = mkOption { type = types.str; default = name; };
          autostart = mkOption { type = types.bool; default = true; };
          environment = mkOption { type = types.attrsOf types.str; default = { }; };
          priority = mkOption { type = types.ints.between 1 999; default = 100; };
          summary = mkOption { type = types.str; readOnly = true; default = "${name}: ${config.command}"; };
        };
      }));
    };
  };
}
