{ lib, ... }: {
  imports = [ ../common/options.nix ./other.nix ];
  app.name = "mine";
}
