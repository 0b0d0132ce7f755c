{ lib, ... }: {
  imports = [ ../common/options.nix ];
  docker.ports = [ "http" ];
}
