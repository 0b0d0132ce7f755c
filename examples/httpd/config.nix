# services.httpd from nix-docker's era: Apache httpd serving ./www.
#   curl http://HOST:8083/   ->   "hello from Apache httpd"
# With nixpkgs (--nixpkgs PATH or NIX_PATH) pkgs.apacheHttpd is nixpkgs'
# Apache. Offline, pkgs.apacheHttpd must come from --extra-pkgs (tests import
# Debian's apache2 in nixpkgs' layout with nixbuild.WriteHostPackages).
{ config, pkgs, ... }:
{
  services.httpd = {
    enable = true;
    documentRoot = ./www;
    adminAddr = "webmaster@example.org";
  };
  docker.ports = [ "8083:80" ]; # httpd listens on 80 in the container
  docker.healthcheck = { http = { port = 80; path = "/"; }; interval = 2; };
}
