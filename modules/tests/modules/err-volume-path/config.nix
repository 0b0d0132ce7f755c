{ ... }: { supervisord.services.a.command = "x"; docker.volumes = { etc = "/../../etc"; }; }
