{ lib }:
let
  eval = lib.evalModules { modules = [ ./config.nix ]; };
in
{ inherit (eval.config.docker) ports; inherit (eval.config.app) banner; }
