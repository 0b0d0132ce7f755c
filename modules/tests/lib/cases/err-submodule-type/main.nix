{ lib }:
(lib.evalModules { modules = [ ./config.nix ]; }).config
