{ lib }:
let
  eval = lib.evalModules {
    specialArgs = { ndRoot = ./..; };
    modules = [
      ./config.nix
      { _module.args.pkgs = { appName = "from-pkgs"; }; }
      { key = "dedup-me"; docker.ports = [ 1 ]; }
      { key = "dedup-me"; docker.ports = [ 2 ]; }
    ];
  };
in
{
  inherit (eval.config) extra;
  inherit (eval.config.docker) env ports;
  name = eval.config.app.name;
  messageFiles = eval.options.extra.message.files;
  messageDecls = eval.options.extra.message.declarations;
}
