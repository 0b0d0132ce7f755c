{ lib, ... }: {
  imports = [ ../common/options.nix ];
  docker.user = lib.mkIf "yes" "alice";
}
