{ lib, ... }: {
  app.name = "plain-name";
  docker.mode = "host-store";
  docker.user = lib.mkDefault "bob";
  services.redis.port = lib.mkDefault 6000;
  docker.env.A = "a-other";
  docker.env.B = lib.mkForce "b-forced";
  docker.ports = lib.mkOptionDefault [ 9 ];
}
