{ lib, ... }: {
  imports = [ ../common/options.nix ];
  docker.mode = "vm";
}
