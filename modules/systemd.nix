# systemd.services.<name>: a shim that turns NixOS-style services into
# nd-init processes. Type = "oneshot" services run once, before the
# long-running ones, ordered by after/before among themselves (else by name).
# Other unit dependencies (wantedBy, requires, ...) are accepted and ignored.
{ config, lib, pkgs, ... }:
with lib;
let
  ndTypes = import ./nd-types.nix lib;
  ignored = description: mkOption {
    type = types.unspecified;
    default = null;
    visible = false;
    description = "Accepted for NixOS compatibility and ignored: ${description}.";
  };

  serviceOpts = { name, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; description = "Whether to run this service."; };
      description = mkOption { type = types.str; default = ""; description = "Description of the service."; };
      script = mkOption { type = types.lines; default = ""; description = "Shell commands run as the service's main process."; };
      preStart = mkOption { type = types.lines; default = ""; description = "Shell commands run before the main process."; };
      environment = mkOption {
        type = types.attrsOf (types.nullOr ndTypes.envValue);
        default = { };
        description = "Environment of the service.";
      };
      path = mkOption {
        type = types.listOf (types.either types.package types.str);
        default = [ ];
        description = "Packages whose bin/ and sbin/ make the service's PATH.";
      };
      serviceConfig = mkOption {
        type = types.attrsOf types.unspecified;
        default = { };
        example = { ExecStart = "\${pkgs.hello}/bin/hello"; User = "app"; Type = "oneshot"; };
        description = "systemd [Service] settings; nd reads ExecStart, User, Type, WorkingDirectory and Restart.";
      };
      wantedBy = ignored "every enabled service starts";
      requiredBy = ignored "every enabled service starts";
      after = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Units this one starts after: orders oneshots among themselves (other units are ignored).";
      };
      before = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Units this one starts before: orders oneshots among themselves (other units are ignored).";
      };
      requires = ignored "unit dependencies";
      wants = ignored "unit dependencies";
      bindsTo = ignored "unit dependencies";
      partOf = ignored "unit dependencies";
      conflicts = ignored "unit dependencies";
      unitConfig = ignored "[Unit] settings";
      restartTriggers = ignored "every change redeploys";
      reloadTriggers = ignored "every change redeploys";
      restartIfChanged = ignored "every change redeploys";
      stopIfChanged = ignored "every change redeploys";
      startLimitIntervalSec = ignored "restart limits";
      startLimitBurst = ignored "restart limits";
      postStart = ignored "no post-start hooks";
      postStop = ignored "no post-stop hooks";
      preStop = ignored "no pre-stop hooks";
    };
  };

  # ExecStart may carry systemd's prefixes (@, -, :, +, !).
  stripPrefix = s:
    let m = builtins.match "[-@:+!]*(.*)" s; in if m == null then s else head m;

  unitName = u: removeSuffix ".service" u;
  # X after Y, also when Y says before = [ "X.service" ].
  afterOf = name: s:
    map unitName s.after
    ++ attrNames (filterAttrs (n: o: elem name (map unitName o.before)) enabled);

  toProcess = name: s:
    let
      sc = s.serviceConfig;
      execStart = if sc ? ExecStart then stripPrefix (toString sc.ExecStart) else null;
      type = sc.Type or "simple";
      oneshot = type == "oneshot";
      restart = sc.Restart or null;
      script = pkgs.writeShellScript "${name}-start" ''
        set -e
        ${s.preStart}
        ${if execStart != null then "exec ${execStart}" else s.script}
      '';
      command = if execStart != null && s.preStart == "" then execStart else "${script}";
      pathBins = concatMapStringsSep ":" (p: "${p}/bin:${p}/sbin") (unique (map toString (s.path ++ [ pkgs.coreutils ])));
    in
    {
      inherit command oneshot;
      after = afterOf name s;
      user = sc.User or null;
      directory = sc.WorkingDirectory or null;
      environment = filterAttrs (n: v: v != null) s.environment // { PATH = pathBins; };
      startsecs = if oneshot then 0 else 1;
      autorestart =
        if oneshot then false
        else if restart == null || restart == "always" then true
        else if restart == "no" then false
        else "unexpected";
    };

  enabled = filterAttrs (n: s: s.enable) config.systemd.services;
in
{
  options.systemd.services = mkOption {
    type = types.attrsOf (types.submodule serviceOpts);
    default = { };
    description = "NixOS-style services, run by nd-init (see the shim's notes in systemd.nix).";
  };

  config = {
    supervisord.services = mapAttrs toProcess enabled;
    assertions = mapAttrsToList (n: s: {
      assertion = s.serviceConfig ? ExecStart || s.script != "";
      message = "systemd.services.${n}: set script or serviceConfig.ExecStart.";
    }) enabled;
  };
}
