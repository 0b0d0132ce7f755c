{ lib, ... }: {
  imports = [ ../common/options.nix ];
  docker.ports = 8080;
}
