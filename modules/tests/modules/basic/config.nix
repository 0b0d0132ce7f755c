{ config, pkgs, lib, ... }:
{
  docker.name = "basic-app";
  docker.ports = [ 8080 "8443:443" "127.0.0.1:5353:53/udp" "9000/udp" ];
  docker.volumes = [ "/var/lib/app" "/data" ];
  docker.env = { MODE = "test"; PATH = "/custom/bin"; };
  docker.user = "nobody";
  docker.workdir = "/var/lib/app";
  docker.labels."com.example.team" = "web";
  docker.healthcheck = { command = [ "/bin/true" ]; retries = 5; startPeriod = 10; };
  docker.environmentFiles = [ "secrets/prod.env" "/etc/nd/shared.env" ];
  docker.stopGracePeriod = 30;
  supervisord.services.app = {
    command = "${pkgs.writeShellScript "app" "exec sleep 1000"} --flag";
    directory = "/var/lib/app";
    environment.LEVEL = "debug";
    environment.TOOL = pkgs.busybox; # a package becomes its store path
    startsecs = 3;
    autorestart = "unexpected";
  };
}
