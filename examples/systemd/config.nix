# NixOS style: a oneshot prepares state in a volume, then a service serves it.
#   GET http://HOST:8082/  ->  "prepared by a oneshot"
{ config, pkgs, lib, ... }:
{
  systemd.services.prepare = {
    wantedBy = [ "multi-user.target" ]; # accepted, ignored
    serviceConfig.Type = "oneshot";
    path = [ pkgs.busybox ];
    script = ''
      mkdir -p /srv/www
      echo "prepared by a oneshot" > /srv/www/index.html
      chown -R web:web /srv/www
    '';
  };

  systemd.services.web = {
    after = [ "prepare.service" ]; # oneshots always run first
    environment.GREETING = "hi";
    serviceConfig = {
      ExecStart = "${pkgs.busybox}/bin/busybox httpd -f -p 8082 -h /srv/www";
      User = "web";
      Restart = "always";
    };
  };

  users.users.web = { isSystemUser = true; group = "web"; };
  users.groups.web = { };

  docker.ports = [ 8082 ];
  docker.volumes.www = "/srv/www";
  docker.healthcheck = [ "${pkgs.busybox}/bin/wget" "-q" "-O" "/dev/null" "http://127.0.0.1:8082/" ];
}
