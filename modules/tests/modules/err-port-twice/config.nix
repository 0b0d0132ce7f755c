{ ... }: { supervisord.services.a.command = "x"; docker.ports = [ 8080 "127.0.0.1:8080:80" ]; }
