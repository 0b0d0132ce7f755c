{ lib, ... }: {
  imports = [ ../common/options.nix ];
  services.redis = true;
}
