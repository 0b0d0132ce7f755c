{ lib, ... }: { options.once = lib.mkOption { type = lib.types.uniq lib.types.int; }; }
