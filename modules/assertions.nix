# assertions and warnings, as in NixOS: build.nix throws with every failed
# assertion's message and traces every warning.
{ lib, ... }:
with lib;
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      internal = true;
      default = [ ];
      example = [{ assertion = false; message = "you can't enable this for that reason"; }];
      description = "Conditions that must hold for the configuration to build; each is { assertion = bool; message = str; }.";
    };
    warnings = mkOption {
      type = types.listOf types.str;
      internal = true;
      default = [ ];
      description = "Messages printed while building.";
    };
  };
}
