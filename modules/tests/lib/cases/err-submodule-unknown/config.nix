{ lib, ... }: {
  imports = [ ../common/options.nix ];
  supervisord.services.web = { command = "x"; comand = "typo"; };
}
