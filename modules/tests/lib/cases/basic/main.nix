{ lib }:
let
  eval = lib.evalModules {
    modules = [ ./config.nix { _module.args.pkgs = { hello = "/nix/store/00000000000000000000000000000000-hello"; }; } ];
  };
in
{
  inherit (eval.config) app docker services supervisord;
  optionIsDefined = eval.options.app.name.isDefined;
  optionFiles = map baseNameOf eval.options.docker.ports.files;
  optionText = "${eval.options.docker.ports}";
}
