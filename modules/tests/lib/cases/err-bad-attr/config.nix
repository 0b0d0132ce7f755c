{ lib, ... }: {
  imports = [ ../common/options.nix ];
  config.app.name = "x";
  docker.ports = [ 1 ];
}
