{ lib }:
let
  pkgs = {
    hello = { type = "derivation"; name = "hello"; outPath = "/nix/store/00000000000000000000000000000000-hello"; };
    tools.jq = { type = "derivation"; name = "jq"; outPath = "/nix/store/00000000000000000000000000000000-jq"; };
  };
  eval = lib.evalModules { modules = [ ./config.nix { _module.args = { inherit pkgs; }; } ]; };
  extended = eval.extendModules { modules = [ { docker.ports = [ 3 ]; app.name = "extended"; } ]; };
in
{
  inherit (eval.config) free byName;
  inherit (eval.config.docker) env ports;
  extendedPorts = extended.config.docker.ports;
  extendedName = extended.config.app.name;
  originalName = eval.config.app.name;
  pkgDefaultText = eval.options.pkg.defaultText.text;
  pkgDescription = eval.options.pkg.description;
  nestedExample = eval.options.pkgNested.example.text;
  subOptionNames = builtins.attrNames (eval.options.byName.type.getSubOptions [ "byName" "<name>" ]);
  submoduleLabelLoc = "${(eval.options.byName.type.getSubOptions [ "byName" "<name>" ]).label}";
}
