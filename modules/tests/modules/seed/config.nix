# The seed's example exactly as nix-docker users wrote it (pkgs.nodejs and
# pkgs.redis are stand-ins from extra-pkgs.nix: the offline pkgs have neither).
{ config, pkgs, ... }:
{
  supervisord.services.app.command = "${pkgs.nodejs}/bin/node ${./app}/server.js";
  services.redis.enable = true;
  docker.ports = [ 8080 ];
}
