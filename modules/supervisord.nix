# supervisord.services.<name>: long-running processes, with the option names of
# nix-docker's supervisord module. nd-init supervises them in the container.
{ config, lib, ... }:
with lib;
let
  ndTypes = import ./nd-types.nix lib;
  serviceOpts = { name, ... }: {
    options = {
      command = mkOption {
        type = types.str;
        example = "\${pkgs.redis}/bin/redis-server --port 6379";
        description = "Command to run, split into words like supervisord does (no shell).";
      };
      directory = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Working directory of the process.";
      };
      user = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "User the process runs as (must be in users.users, or root/nobody).";
      };
      environment = mkOption {
        type = types.attrsOf ndTypes.envValue;
        default = { };
        description = "Extra environment of the process, over docker.env.";
      };
      startsecs = mkOption {
        type = types.int;
        default = 1;
        description = "Seconds the process must stay up to count as started; exiting sooner is a failed start. A deploy counts the process as up once it has stayed up this long or listens on a TCP or Unix stream socket, whichever comes first.";
      };
      autorestart = mkOption {
        type = types.either types.bool (types.enum [ "unexpected" ]);
        default = true;
        description = "Restart the process when it exits: true, false, or \"unexpected\" (only on unexpected exit codes).";
      };
      stopsignal = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "QUIT";
        description = "Signal that stops the process (not supported by nd-init yet: SIGTERM is sent).";
      };
      after = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "nd extension: oneshots (by name) this oneshot runs after; systemd's after/before map to it.";
      };
      oneshot = mkOption {
        type = types.bool;
        default = false;
        description = "nd extension: run once to completion, in name order, before the long-running processes start (systemd's Type = \"oneshot\").";
      };
    };
  };
in
{
  options.supervisord.services = mkOption {
    type = types.attrsOf (types.submodule serviceOpts);
    default = { };
    description = "Processes supervised in the container by nd-init.";
  };

  config.assertions = mapAttrsToList (n: s: {
    assertion = builtins.match "[^ \t\r\n|]+" n != null;
    message = "supervisord.services.\"${n}\": a process name must not contain blanks or '|'.";
  }) config.supervisord.services
  ++ concatLists (mapAttrsToList (n: s: mapAttrsToList (k: v: {
    assertion = k != "" && !(hasInfix "=" k);
    message = "supervisord.services.${n}.environment.\"${k}\": an environment variable name must be non-empty and have no \"=\".";
  }) s.environment) config.supervisord.services);

  config.warnings = concatLists (mapAttrsToList (n: s:
    optional (s.stopsignal != null && s.stopsignal != "TERM" && s.stopsignal != "SIGTERM")
      "supervisord.services.${n}.stopsignal = \"${s.stopsignal}\" is ignored: nd-init stops processes with SIGTERM."
  ) config.supervisord.services);
}
