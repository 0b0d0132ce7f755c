{ ... }: { supervisord.services.a = { command = "x"; environment."B=C" = "d"; }; }
