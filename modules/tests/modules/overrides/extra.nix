{ lib, ... }:
{
  docker.ports = lib.mkBefore [ 1111 ];
  docker.env.FROM_IMPORT = "yes";
  docker.stopGracePeriod = lib.mkDefault 5;
}
