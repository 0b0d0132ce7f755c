{ ... }: { supervisord.services.a.command = "x"; docker.env."B=C" = "d"; }
