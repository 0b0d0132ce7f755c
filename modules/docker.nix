# docker.*: the container's settings (nix-docker's options, kept compatible).
{ config, lib, pkgs, ... }:
with lib;
let
  cfg = config.docker;
  ndTypes = import ./nd-types.nix lib;

  validName = s: builtins.match "[a-z0-9][a-z0-9_.-]{0,62}" s != null;

  portRE = "(([0-9]{1,3}\\.){3}[0-9]{1,3}:)?([0-9]+:)?[0-9]+(/(tcp|udp))?";
  portType = types.either types.port (types.strMatching portRE // {
    description = "string \"[ip:]host:container[/tcp|/udp]\"";
  });

  # "8080", "8080/udp", "8080:80", "127.0.0.1:8080:80/tcp" or 8080.
  parsePort = p:
    if builtins.isInt p then { host = p; container = p; protocol = "tcp"; }
    else
      let
        protoSplit = splitString "/" p;
        proto = if length protoSplit > 1 then elemAt protoSplit 1 else "tcp";
        parts = splitString ":" (head protoSplit);
        n = length parts;
        num = s: toInt s;
      in
      {
        host = num (elemAt parts (n - (if n == 1 then 1 else 2)));
        container = num (elemAt parts (n - 1));
        protocol = proto;
      } // optionalAttrs (n == 3) { hostIP = head parts; };

  # A volume's name from its path: /var/lib/redis -> var-lib-redis.
  volumeNameOf = path:
    let
      trimmed = concatStringsSep "-" (filter (s: s != "") (splitString "/" (toLower path)));
      clean = builtins.replaceStrings [ " " ":" "@" "+" "=" "," ] [ "_" "_" "_" "_" "_" "_" ] trimmed;
    in
    if clean == "" then "root" else clean;

  toVolumeAttrs = v:
    let
      names = map volumeNameOf v;
      clash = filter (n: length (filter (m: m == n) names) > 1) (unique names);
    in
    if clash != [ ] then
      throw "docker.volumes: the paths ${concatStringsSep ", " (filter (p: elem (volumeNameOf p) clash) v)} would share the volume name \"${head clash}\"; give the volumes names: docker.volumes = { name = path; }."
    else listToAttrs (map (p: nameValuePair (volumeNameOf p) p) v);

  volumesType = types.coercedTo (types.listOf types.str) toVolumeAttrs (types.attrsOf types.str);

  volumePaths = attrValues cfg.volumes;

  # A mount point the agent accepts (internal/manifest CheckVolumePath):
  # absolute and clean, not / and not at or under the store.
  volumePathError = path:
    let parts = tail (splitString "/" path); in
    if !(hasPrefix "/" path) || path == "/" || any (p: p == "" || p == "." || p == "..") parts then
      "the path must be absolute and clean (no \".\", \"..\", \"//\" or trailing \"/\"), and not /"
    else if path == "/nix" || path == builtins.storeDir || hasPrefix (builtins.storeDir + "/") path then
      "a volume cannot be at or under ${builtins.storeDir} (the store is mounted there)"
    else null;

  # Published ports that bind the same host port twice (an empty host IP
  # binds every address).
  portKey = p: "${toString p.host}/${p.protocol}";
  portsClash = a: b: portKey a == portKey b && ((a.hostIP or "") == (b.hostIP or "") || (a.hostIP or "") == "" || (b.hostIP or "") == "");
  duplicatePorts =
    let ps = config.nd.docker.ports; n = length ps; in
    unique (concatMap (i: map (j: portKey (elemAt ps i))
      (filter (j: portsClash (elemAt ps i) (elemAt ps j)) (range 0 (i - 1)))) (range 0 (n - 1)));

  hasStoreContext = s: builtins.hasContext s || hasPrefix builtins.storeDir s;
  envFileType = types.addCheck types.str (s: !hasStoreContext s) // {
    description = "string (a local path, not a Nix path: secrets must not enter the store)";
  };

  healthOpts = {
    options = {
      command = mkOption {
        type = types.nullOr (types.listOf types.str);
        default = null;
        example = [ "/nix/store/...-curl/bin/curl" "-f" "http://localhost:8080/" ];
        description = "Command run inside the container; exit status 0 means healthy.";
      };
      http = mkOption {
        type = types.nullOr (types.submodule {
          options = {
            port = mkOption { type = types.port; description = "Container port to GET."; };
            path = mkOption { type = types.str; default = "/"; description = "URL path to GET."; };
          };
        });
        default = null;
        description = "HTTP GET against the container's own port; 2xx or 3xx means healthy.";
      };
      interval = mkOption { type = types.int; default = 5; description = "Seconds between probes."; };
      timeout = mkOption { type = types.int; default = 3; description = "Seconds before a probe fails."; };
      retries = mkOption { type = types.int; default = 3; description = "Failed probes before unhealthy."; };
      startPeriod = mkOption { type = types.int; default = 0; description = "Seconds of grace after start."; };
    };
  };
in
{
  options.docker = {
    name = mkOption {
      type = types.str;
      default = config.nd.appName;
      defaultText = "the config file's directory name given by nd-push, else \"app\"";
      example = "shop";
      description = "The app's name; the container is nd-<name>. Lowercase letters, digits, '_', '.', '-'.";
    };
    ports = mkOption {
      type = types.listOf portType;
      default = [ ];
      example = [ 8080 "8443:443" "127.0.0.1:5353:53/udp" ];
      description = "Published ports: a number (same port on the host), or \"[ip:]host:container[/tcp|/udp]\".";
    };
    volumes = mkOption {
      type = volumesType;
      default = { };
      example = [ "/var/lib/app" ];
      description = ''
        Container paths kept across redeploys in Docker named volumes. A list names each volume
        after its path (/var/lib/app -> var-lib-app); an attribute set names them explicitly.
      '';
    };
    env = mkOption {
      type = types.attrsOf ndTypes.envValue;
      default = { };
      example = { NODE_ENV = "production"; };
      description = "Environment of the container (every process inherits it).";
    };
    user = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "User the container starts as (default root); processes may switch to their own user.";
    };
    workdir = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Working directory of the container (default /).";
    };
    healthcheck = mkOption {
      type = types.nullOr (types.either (types.listOf types.str) (types.submodule healthOpts));
      default = null;
      example = { http = { port = 8080; path = "/health"; }; interval = 5; };
      description = "How deploys decide the app is healthy: a command list, or { command | http; interval; timeout; retries; startPeriod; }.";
    };
    labels = mkOption {
      type = types.attrsOf types.str;
      default = { };
      description = "Docker labels of the container (nd.* are reserved).";
    };
    environmentFiles = mkOption {
      type = types.listOf envFileType;
      default = [ ];
      example = [ "secrets/prod.env" ];
      description = ''
        Local files of KEY=VALUE lines uploaded beside the deployment, never into the Nix store.
        Give them as strings (absolute, or relative to the config's directory), not as Nix paths.
      '';
    };
    stopGracePeriod = mkOption {
      type = types.int;
      default = 10;
      description = "Seconds between SIGTERM and SIGKILL when stopping.";
    };
    deployStrategy = mkOption {
      type = types.enum [ "overlap" "recreate" ];
      default = "overlap";
      description = ''
        How a new release replaces the running one. "overlap": the new container becomes ready
        beside the old one, then takes every new connection while the old one drains (no request
        fails). "recreate": the old container stops before the new one starts, for apps that must
        not run twice (two processes on one volume, like a database).
      '';
    };
    drainTime = mkOption {
      type = types.int;
      default = 2;
      description = "Seconds an overlap deploy leaves the old container its open connections before stopping it.";
    };
  };

  # Internal, computed forms used by package.nix.
  options.nd.docker = mkOption {
    type = types.attrs;
    internal = true;
    description = "docker.* normalised for the manifest.";
  };

  config = {
    docker.env.PATH = mkDefault "${pkgs.coreutils}/bin";

    nd.docker = {
      ports = map parsePort cfg.ports;
      volumes = map (n: { name = n; path = cfg.volumes.${n}; }) (attrNames cfg.volumes);
      healthcheck =
        if cfg.healthcheck == null then null
        else if builtins.isList cfg.healthcheck then { command = cfg.healthcheck; interval = 5; timeout = 3; retries = 3; }
        else filterAttrs (n: v: v != null && !(n == "startPeriod" && v == 0)) {
          inherit (cfg.healthcheck) command interval timeout retries startPeriod;
          http = if cfg.healthcheck.http == null then null else { inherit (cfg.healthcheck.http) port path; };
        };
    };

    assertions =
      [{
        assertion = validName cfg.name;
        message = "docker.name = \"${cfg.name}\": an app name must match [a-z0-9][a-z0-9_.-]* (at most 63 characters).";
      }]
      ++ map (p: {
        assertion = p.host >= 1 && p.host <= 65535 && p.container >= 1 && p.container <= 65535;
        message = "docker.ports: ${toString p.host}:${toString p.container} is not a valid port pair (1-65535).";
      }) config.nd.docker.ports
      ++ mapAttrsToList (n: path: {
        assertion = validName n && hasPrefix "/" path;
        message = "docker.volumes: volume \"${n}\" at \"${path}\": the name must match [a-z0-9][a-z0-9_.-]* and the path be absolute.";
      }) cfg.volumes
      ++ mapAttrsToList (n: path: {
        assertion = volumePathError path == null;
        message = "docker.volumes: volume \"${n}\" at \"${path}\": ${toString (volumePathError path)}.";
      }) cfg.volumes
      ++ map (k: {
        assertion = false;
        message = "docker.ports: host port ${k} is published twice.";
      }) duplicatePorts
      ++ mapAttrsToList (k: v: {
        assertion = k != "" && !(hasInfix "=" k);
        message = "docker.env.\"${k}\": an environment variable name must be non-empty and have no \"=\".";
      }) cfg.env
      ++ [{
        assertion = length volumePaths == length (unique volumePaths);
        message = "docker.volumes: a path is mounted twice (${concatStringsSep ", " volumePaths}); list paths whose names differ, or name the volumes.";
      }]
      ++ optional (cfg.healthcheck != null && !builtins.isList cfg.healthcheck) {
        assertion = (cfg.healthcheck.command == null) != (cfg.healthcheck.http == null);
        message = "docker.healthcheck: set exactly one of command and http.";
      }
      ++ [{
        assertion = cfg.drainTime >= 0 && cfg.drainTime <= 3600;
        message = "docker.drainTime = ${toString cfg.drainTime}: want 0 to 3600 seconds.";
      }];
  };
}
