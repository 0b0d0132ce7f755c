{ pkgs, ... }:
{
  systemd.services.b-migrate = {
    wantedBy = [ "multi-user.target" ];
    after = [ "network.target" ];
    serviceConfig.Type = "oneshot";
    script = "echo migrating";
  };
  # a-seed sorts first by name but must follow b-migrate; c-warm goes before it.
  systemd.services.a-seed = {
    after = [ "b-migrate.service" "network.target" ];
    serviceConfig = { Type = "oneshot"; ExecStart = "${pkgs.busybox}/bin/true"; };
  };
  systemd.services.c-warm = {
    before = [ "a-seed.service" ];
    serviceConfig.Type = "oneshot";
    script = "echo warm";
  };
  systemd.services.api = {
    description = "the API";
    path = [ pkgs.busybox ];
    environment = { PORT = "8080"; };
    preStart = "mkdir -p /tmp/api";
    serviceConfig = { ExecStart = "-${pkgs.busybox}/bin/sleep 1000"; User = "nobody"; WorkingDirectory = "/tmp"; Restart = "on-failure"; };
    unitConfig.Documentation = "none";
  };
  systemd.services.off = { enable = false; script = "exit 1"; };
}
