{ lib, ... }: {
  docker.ports = lib.mkMerge [ [ 2 ] (lib.mkBefore [ 1 ]) (lib.mkOrder 2000 [ 4 ]) ];
  app.banner = "middle-2";
}
