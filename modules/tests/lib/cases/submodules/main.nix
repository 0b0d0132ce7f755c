{ lib }:
let
  eval = lib.evalModules { modules = [ ./config.nix ]; };
in
{ inherit (eval.config) supervisord volumes single untouched; }
