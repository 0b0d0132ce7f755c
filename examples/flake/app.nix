# A module like any config.nix: busybox httpd serving ./www on port 8080.
{ pkgs, ... }:
{
  supervisord.services.web.command = "${pkgs.busybox}/bin/busybox httpd -f -v -p 8080 -h ${./www}";
  docker.ports = [ 8080 ];
  docker.healthcheck = { http = { port = 8080; path = "/"; }; interval = 2; };
}
