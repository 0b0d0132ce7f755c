{ pkgs, ... }:
{
  users.users.alice = { uid = 1000; home = "/home/alice"; extraGroups = [ "staff" ]; description = "Alice"; };
  users.users.svc = { isSystemUser = true; group = "daemons"; };
  users.groups.staff.gid = 50;
  users.groups.daemons = { };
  supervisord.services.a = { command = "${pkgs.busybox}/bin/sleep 100"; user = "alice"; };
  supervisord.services.b = { command = "${pkgs.busybox}/bin/sleep 100"; user = "svc:staff"; autorestart = false; };
  supervisord.services.c = { command = "${pkgs.busybox}/bin/sleep 100"; user = "4242"; };
}
