{ config, lib, ... }: {
  imports = [ ../common/options.nix ];
  config = lib.mkMerge [
    { services.redis.enable = true; }
    (lib.mkIf config.services.redis.enable {
      docker.env.REDIS = "localhost:${toString config.services.redis.port}";
      supervisord.services.redis.command = "redis-server";
    })
    (lib.mkIf false {
      supervisord.services.never.command = "x";
    })
    {
      docker.ports = lib.mkMerge [ [ 80 ] (lib.mkIf (config.app.name == "app") [ 81 ]) (lib.mkIf false [ 82 ]) ];
      docker.user = lib.mkIf false "nobody";
    }
  ];
}
