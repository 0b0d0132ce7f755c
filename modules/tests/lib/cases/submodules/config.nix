{ config, lib, ... }: {
  imports = [ ../common/options.nix ./options.nix ./extend.nix ];
  supervisord.services = {
    web = { command = "web --serve"; priority = 10; };
    worker = { name, ... }: { command = "worker ${name}"; user = "root"; };
  };
  supervisord.services.web.environment.PORT = "80";
  volumes = [ { path = "/data"; } { path = "/cache"; label = "cache"; } ];
  single.b = 20;
  single.nested.c = "cc";
}
