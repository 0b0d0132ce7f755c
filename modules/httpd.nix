# services.httpd: Apache httpd in the foreground serving documentRoot, as
# root with its children as services.httpd.user (as NixOS does).
# Needs pkgs.apacheHttpd (nixpkgs), or services.httpd.package laid out like
# it: bin/httpd, modules/mod_*.so, conf/mime.types.
{ config, lib, pkgs, ... }:
with lib;
let
  cfg = config.services.httpd;
  pkg = cfg.package;
  modules = [ "mpm_event" "authz_core" "unixd" "dir" "mime" "log_config" "alias" ];
  # Loaded unless the binary has them built in (nixpkgs' httpd has none;
  # Debian's apache2 has unixd and log_config, and refuses to load them).
  loadModule = m: ''
    <IfModule !${m}_module>
      LoadModule ${m}_module ${pkg}/modules/mod_${m}.so
    </IfModule>
  '';
  conf = pkgs.writeText "httpd.conf" ''
    ServerRoot "${pkg}"
    ServerName localhost
    ServerAdmin ${cfg.adminAddr}
    Listen ${toString cfg.port}
    # The store is read-only: pid file and runtime files (mutexes, sockets)
    # go to the container's /tmp.
    PidFile /tmp/httpd.pid
    DefaultRuntimeDir /tmp
    User ${cfg.user}
    Group ${cfg.group}
    ${concatMapStrings loadModule modules}
    TypesConfig ${pkg}/conf/mime.types
    ErrorLog /dev/stderr
    LogFormat "%h %l %u %t \"%r\" %>s %b" common
    CustomLog /dev/stdout common
    DirectoryIndex index.html
    ${optionalString (cfg.documentRoot != null) ''
      DocumentRoot "${cfg.documentRoot}"
      <Directory "${cfg.documentRoot}">
        Options Indexes FollowSymLinks
        AllowOverride None
        Require all granted
      </Directory>
    ''}
    ${cfg.extraConfig}
  '';
in
{
  options.services.httpd = {
    enable = mkEnableOption "the Apache HTTP server";
    package = mkOption {
      type = types.unspecified;
      default = pkgs.apacheHttpd or (throw "services.httpd: pkgs.apacheHttpd is not available; build with nixpkgs (--nixpkgs PATH) or give services.httpd.package");
      defaultText = "pkgs.apacheHttpd";
      description = "Apache httpd package.";
    };
    port = mkOption { type = types.port; default = 80; description = "Port httpd listens on in the container."; };
    documentRoot = mkOption { type = types.nullOr types.path; default = null; description = "Directory served at /."; };
    adminAddr = mkOption { type = types.str; default = "admin@localhost"; example = "admin@example.org"; description = "ServerAdmin address."; };
    user = mkOption { type = types.str; default = "wwwrun"; description = "User httpd's children run as."; };
    group = mkOption { type = types.str; default = "wwwrun"; description = "Group httpd's children run as."; };
    extraConfig = mkOption { type = types.lines; default = ""; description = "Lines appended to httpd.conf."; };
  };

  config = mkIf cfg.enable {
    users.users.${cfg.user} = { isSystemUser = true; group = cfg.group; };
    supervisord.services.httpd.command = "${pkg}/bin/httpd -f ${conf} -DFOREGROUND";
  };
}
