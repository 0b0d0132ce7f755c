# The deploy package: config.system.build.ndPackage, a store directory holding
# nd-manifest.json (internal/manifest's format, version 1). Everything that
# changes what runs is referenced from it, so its closure is the whole app and
# the same configuration always gives the same store path.
{ config, lib, pkgs, ... }:
with lib;
let
  cfg = config.docker;
  d = config.nd.docker;

  nonNull = filterAttrs (n: v: v != null && v != { } && v != [ ] && v != "");

  toProcess = name: p: nonNull {
    inherit name;
    inherit (p) command directory user environment;
    startsecs = p.startsecs;
    autorestart = if p.autorestart == true then "true" else if p.autorestart == false then "false" else p.autorestart;
    oneshot = if p.oneshot then true else null;
  };

  services = config.supervisord.services;
  names = attrNames services; # sorted by name
  oneshots = filter (n: services.${n}.oneshot) names;

  # Oneshots in dependency order (`after`), ties broken by name.
  depsOf = n: filter (d: d != n && elem d oneshots) services.${n}.after;
  orderOneshots = placed: remaining:
    if remaining == [ ] then placed
    else
      let ready = filter (n: all (d: elem d placed) (depsOf n)) remaining;
      in
      if ready == [ ] then
        throw "oneshot processes wait for each other in a cycle: ${concatStringsSep ", " remaining} (see their after/before)"
      else orderOneshots (placed ++ [ (head ready) ]) (filter (n: n != head ready) remaining);

  ordered = orderOneshots [ ] oneshots ++ filter (n: !services.${n}.oneshot) names;

  processes = {
    version = 1;
    stopGracePeriod = cfg.stopGracePeriod;
    processes = map (n: toProcess n services.${n}) ordered;
  };
  processesFile = pkgs.writeText "nd-processes-${cfg.name}.json" (builtins.toJSON processes);

  manifest = nonNull {
    version = 1;
    name = cfg.name;
    entrypoint = [ "${config.nd.init}/bin/nd-init" "${processesFile}" ];
    init = "${config.nd.init}";
    processesFile = "${processesFile}";
    env = cfg.env;
    ports = d.ports;
    volumes = d.volumes;
    user = cfg.user;
    workdir = cfg.workdir;
    labels = cfg.labels;
    healthcheck = d.healthcheck;
    etc = "${config.nd.etc}";
    environmentFiles = map (f: if hasPrefix "/" f then f else "${config.nd.configDir}/${f}") cfg.environmentFiles;
    stopGracePeriod = cfg.stopGracePeriod;
    # Left out at their defaults, so packages built before these options
    # existed keep their store paths.
    deployStrategy = if cfg.deployStrategy == "overlap" then null else cfg.deployStrategy;
    drainTime = if cfg.drainTime == 2 then null else cfg.drainTime;
  };
in
{
  options = {
    nd.init = mkOption {
      type = types.unspecified;
      internal = true;
      description = "Store path of nd-init's directory (holds bin/nd-init); set by build.nix.";
    };
    nd.appName = mkOption {
      type = types.str;
      default = "app";
      internal = true;
      description = "Default of docker.name, set by build.nix from nd-push's --argstr name.";
    };
    nd.configDir = mkOption {
      type = types.str;
      default = "/";
      internal = true;
      description = "Directory of the config file (for relative docker.environmentFiles); set by build.nix.";
    };
    nd.manifest = mkOption {
      type = types.unspecified;
      internal = true;
      readOnly = true;
      description = "The manifest as a Nix value (for tests and debugging).";
    };
    system.build = mkOption {
      type = types.attrsOf types.unspecified;
      internal = true;
      default = { };
      description = "Build results; ndPackage is the deploy package.";
    };
  };

  config = {
    nd.manifest = manifest;
    system.build.ndProcesses = processesFile;
    system.build.ndPackage = pkgs.runCommand "nd-${cfg.name}"
      {
        manifest = builtins.toJSON manifest;
        passAsFile = [ "manifest" ];
      } ''
      mkdir -p $out
      cp "$manifestPath" $out/nd-manifest.json
    '';
    assertions = [{
      assertion = services != { };
      message = "nothing to run: define supervisord.services.<name>.command, systemd.services.<name>, or enable a service such as services.redis.";
    }];
  };
}
