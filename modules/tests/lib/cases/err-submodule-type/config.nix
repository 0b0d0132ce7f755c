{ lib, ... }: {
  imports = [ ../common/options.nix ];
  supervisord.services.web = "run-web";
}
