{ pkgs, ... }: { supervisord.services.a.command = "x"; docker.environmentFiles = [ "${./config.nix}" ]; }
