# services.httpd evaluates and wires its process and user (the package is a
# stand-in: the offline pkgs have no apacheHttpd).
{ pkgs, ... }:
{
  services.httpd = {
    enable = true;
    package = pkgs.runCommand "fake-httpd" { } "mkdir -p $out/bin $out/modules $out/conf; touch $out/bin/httpd $out/conf/mime.types";
    port = 8080;
    documentRoot = ./www;
    adminAddr = "ops@example.org";
    extraConfig = "KeepAlive On";
  };
  docker.ports = [ 8080 ];
}
