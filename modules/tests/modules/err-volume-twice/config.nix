{ ... }: { supervisord.services.a.command = "x"; docker.volumes = { a = "/data"; b = "/data"; }; }
