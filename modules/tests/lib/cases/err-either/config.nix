{ lib, ... }: {
  options.ports = lib.mkOption {
    type = lib.types.listOf (lib.types.either lib.types.port (lib.types.strMatching "[0-9]+:[0-9]+"));
  };
  config.ports = [ 80 "8080:80" "http" ];
}
