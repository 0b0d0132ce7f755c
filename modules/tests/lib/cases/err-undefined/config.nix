{ lib, ... }: {
  imports = [ ../common/options.nix ];
  supervisord.services.web.autostart = false;
}
