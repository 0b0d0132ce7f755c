{ pkgs, ... }: { supervisord.services.a = { command = "x"; user = "bob"; }; }
