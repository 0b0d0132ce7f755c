{ ... }: { supervisord.services.a.command = "x"; docker.healthcheck = { interval = 3; }; }
