{ lib, ... }:
let inherit (lib) mkOption types; in
{
  options.volumes = mkOption {
    type = types.listOf (types.submodule ({ name, ... }: {
      options.path = mkOption { type = types.path; };
      options.label = mkOption { type = types.str; default = name; };
    }));
    default = [ ];
  };
  options.single = mkOption {
    type = types.submodule {
      options.a = mkOption { type = types.int; default = 1; };
      options.b = mkOption { type = types.int; default = 2; };
      options.nested.c = mkOption { type = types.str; default = "c"; };
    };
    default = { };
  };
  options.untouched = mkOption {
    type = types.submodule { options.x = mkOption { type = types.int; default = 7; }; };
  };
}
