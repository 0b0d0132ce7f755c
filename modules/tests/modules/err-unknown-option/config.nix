{ pkgs, ... }: { supervisord.services.a.command = "x"; docker.portz = [ 80 ]; }
