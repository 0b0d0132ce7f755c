{ lib, ... }: {
  imports = [ ../common/options.nix ./more.nix ];
  docker.ports = lib.mkAfter [ 3 ];
  app.banner = lib.mkMerge [ (lib.mkAfter "last") "middle-1" (lib.mkBefore "first") ];
}
