# services.redis: one Redis server, its data in the "redis" volume.
{ config, lib, pkgs, ... }:
with lib;
let
  cfg = config.services.redis;
  render = v:
    if builtins.isBool v then (if v then "yes" else "no")
    else if builtins.isList v then concatMapStringsSep " " toString v
    else if v == "" then "\"\""
    else toString v;
  conf = pkgs.writeText "redis.conf" (concatStrings (mapAttrsToList (k: v: "${k} ${render v}\n") cfg.settings)
    + cfg.extraConfig);
in
{
  options.services.redis = {
    enable = mkEnableOption "the Redis server";
    package = mkOption {
      type = types.unspecified;
      default = pkgs.redis or (throw "services.redis: pkgs.redis is not available; build with nixpkgs (--nixpkgs PATH) or give services.redis.package");
      defaultText = "pkgs.redis";
      description = "Redis package (needs bin/redis-server).";
    };
    port = mkOption { type = types.port; default = 6379; description = "TCP port (0 turns TCP off)."; };
    bind = mkOption {
      type = types.nullOr types.str;
      default = "127.0.0.1";
      description = "Addresses to listen on; null for all (reach it from outside the container via docker.ports).";
    };
    dataDir = mkOption { type = types.str; default = "/var/lib/redis"; description = "Data directory, kept in the volume \"redis\"."; };
    user = mkOption { type = types.str; default = "redis"; description = "User redis runs as."; };
    settings = mkOption {
      type = types.attrsOf (types.oneOf [ types.bool types.int types.str (types.listOf types.str) ]);
      default = { };
      example = { maxmemory = "100mb"; appendonly = true; };
      description = "redis.conf settings.";
    };
    extraConfig = mkOption { type = types.lines; default = ""; description = "Lines appended to redis.conf."; };
  };

  config = mkIf cfg.enable {
    services.redis.settings = {
      port = mkDefault cfg.port;
      dir = mkDefault cfg.dataDir;
      daemonize = mkDefault false;
      protected-mode = mkDefault (cfg.bind != null);
      logfile = mkDefault "";
    } // optionalAttrs (cfg.bind != null) { bind = mkDefault cfg.bind; };

    users.users.${cfg.user} = { isSystemUser = true; home = cfg.dataDir; };
    docker.volumes.redis = cfg.dataDir;
    # Two redis processes on one data volume would overwrite each other's dump.
    docker.deployStrategy = mkDefault "recreate";

    systemd.services.redis-init = {
      serviceConfig.Type = "oneshot";
      script = ''
        mkdir -p ${cfg.dataDir}
        chown ${cfg.user}:${config.users.users.${cfg.user}.group} ${cfg.dataDir}
        chmod 0700 ${cfg.dataDir}
      '';
    };
    supervisord.services.redis = {
      command = "${cfg.package}/bin/redis-server ${conf}";
      user = cfg.user;
      directory = cfg.dataDir;
    };
  };
}
