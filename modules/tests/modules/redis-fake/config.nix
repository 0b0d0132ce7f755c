{ pkgs, ... }:
{
  services.redis = {
    enable = true;
    package = pkgs.writeShellScriptBin "redis-server" "exec sleep 1000";
    settings.maxmemory = "10mb";
    settings.appendonly = true;
  };
  docker.ports = [ 6379 ];
}
