{ lib, ... }: {
  imports = [ ../common/options.nix ./other.nix ];
  app.name = lib.mkDefault "default-name";
  docker.mode = lib.mkForce "image";
  docker.user = "alice";
  services.redis.port = lib.mkOverride 900 7000;
  docker.env.A = lib.mkDefault "a-default";
  docker.env.B = "b-config";
}
