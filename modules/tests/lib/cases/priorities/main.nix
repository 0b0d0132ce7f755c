{ lib }:
let
  eval = lib.evalModules { modules = [ ./config.nix ]; };
in
{ inherit (eval.config) app docker services; prio = eval.options.app.name.highestPrio; portPrio = eval.options.docker.ports.highestPrio; }
