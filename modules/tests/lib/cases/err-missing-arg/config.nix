{ pkgs, ... }: {
  imports = [ ../common/options.nix ];
  app.name = pkgs.hello.name;
}
