{ lib }:
let
  eval = lib.evalModules { modules = [ ./config.nix ]; };
in
{ inherit (eval.config.docker) ports env; inherit (eval.config.app) banner; files = map baseNameOf eval.options.docker.ports.files; }
