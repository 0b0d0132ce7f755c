{ ... }: { supervisord.services.a.command = "x"; docker.volumes = [ "/a-b" "/a/b" ]; }
