{ pkgs, ... }: { supervisord.services.a.command = "x"; docker.ports = [ "http" ]; }
