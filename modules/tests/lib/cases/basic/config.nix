{ config, lib, pkgs, ... }:
{
  imports = [ ../common/options.nix ];
  app.name = "shop";
  docker.ports = [ 8080 443 ];
  docker.env.GREETING = "hello from ${config.app.name}";
  docker.memory = 1024;
  services.redis.enable = true;
  supervisord.services.web.command = "${pkgs.hello}/bin/hello --port ${toString (builtins.head config.docker.ports)}";
}
