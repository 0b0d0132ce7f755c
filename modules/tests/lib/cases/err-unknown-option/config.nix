{ lib, ... }: {
  imports = [ ../common/options.nix ];
  docker.portz = [ 8080 ];
}
