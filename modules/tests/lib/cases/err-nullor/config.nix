{ lib, ... }: {
  options.maybe = lib.mkOption { type = lib.types.nullOr (lib.types.listOf lib.types.str); default = null; };
  config.maybe = "one";
}
