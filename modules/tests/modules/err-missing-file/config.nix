{ pkgs, ... }: { supervisord.services.a.command = "${./nothere}/bin/x"; }
