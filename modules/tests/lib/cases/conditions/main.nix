{ lib }:
let
  eval = lib.evalModules { modules = [ ./config.nix ]; };
in
{ inherit (eval.config.docker) env ports user; services = builtins.attrNames eval.config.supervisord.services; userDefined = eval.options.docker.user.isDefined; }
