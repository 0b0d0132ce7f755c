{ ... }:
{
  systemd.services.a = { after = [ "b.service" ]; serviceConfig.Type = "oneshot"; script = "true"; };
  systemd.services.b = { after = [ "a.service" ]; serviceConfig.Type = "oneshot"; script = "true"; };
  supervisord.services.web.command = "x";
}
