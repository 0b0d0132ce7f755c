# The smallest nd app: busybox httpd serving ./www on port 8080.
#   nd-push build examples/hello/config.nix
#   curl http://HOST:8080/   ->   "hello from nd"
{ config, pkgs, ... }:
{
  supervisord.services.web.command = "${pkgs.busybox}/bin/busybox httpd -f -v -p 8080 -h ${./www}";
  docker.ports = [ 8080 ];
  docker.healthcheck = { http = { port = 8080; path = "/"; }; interval = 2; };
}
