{ config, lib, pkgs, ... }:
{
  imports = [ ./extra.nix ];
  options.app.enableDebug = lib.mkEnableOption "debug mode";
  config = lib.mkMerge [
    {
      app.enableDebug = true;
      docker.ports = [ 2222 ];
      docker.env.PATH = lib.mkForce "/override";
      supervisord.services.main.command = "${pkgs.busybox}/bin/sleep 1";
    }
    (lib.mkIf config.app.enableDebug { docker.env.DEBUG = "1"; })
    (lib.mkIf false { docker.env.NEVER = "1"; })
    { docker.ports = lib.mkAfter [ 3333 ]; }
  ];
}
