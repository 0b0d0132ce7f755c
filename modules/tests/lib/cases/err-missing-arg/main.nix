{ lib }:
(lib.evalModules { modules = [ ./config.nix ]; }).config.app.name
