{ lib, ... }: {
  imports = [
    ../common/options.nix
    (lib.mkAliasOptionModule [ "ports" ] [ "docker" "ports" ])
    (lib.mkRenamedOptionModule [ "appName" ] [ "app" "name" ])
  ];
  ports = [ 8080 ];
  appName = "renamed";
}
