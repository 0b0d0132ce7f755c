{ lib, ... }: {
  imports = [ ./b.nix ];
  docker.ports = [ 1 ];
  app.banner = "from a";
}
