{ ... }: { supervisord.services.a.command = "x"; docker.volumes = { store = "/nix/store"; }; }
