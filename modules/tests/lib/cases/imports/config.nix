{ lib, ... }: {
  imports = [
    ../common/options.nix
    ./a.nix
    ./b.nix
    ({ config, ... }: { docker.env.NAME = config.app.name; docker.ports = [ 3 ]; })
  ];
  docker.ports = [ 4 ];
  app.name = "imp";
}
