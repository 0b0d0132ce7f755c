# services.redis from nix-docker's era: a Redis server, its data in the
# "redis" volume, reachable on port 6379.
#   redis-cli -h HOST ping   ->   PONG
# With nixpkgs (--nixpkgs PATH or NIX_PATH) pkgs.redis is nixpkgs' Redis.
# Offline, pkgs.redis must come from --extra-pkgs (tests import the host's
# redis-server with nixbuild.WriteHostPackages).
{ config, pkgs, ... }:
{
  services.redis = {
    enable = true;
    bind = null; # listen on every address of the container
    settings.appendonly = true;
  };
  docker.ports = [ 6379 ];
  docker.healthcheck = [ "${config.services.redis.package}/bin/redis-cli" "ping" ];
}
