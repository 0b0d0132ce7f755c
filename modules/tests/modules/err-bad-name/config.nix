{ pkgs, ... }: { supervisord.services.a.command = "x"; docker.name = "My App"; }
