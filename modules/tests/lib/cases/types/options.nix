{ lib, ... }:
let inherit (lib) mkOption types; in
{
  options = {
    applied = mkOption { type = types.listOf types.str; default = [ "b" "a" ]; apply = l: lib.concatStringsSep "," (lib.sort (x: y: x < y) l); };
    maybe = mkOption { type = types.nullOr types.int; default = null; };
    maybeSet = mkOption { type = types.nullOr (types.submodule { options.v = mkOption { type = types.int; default = 5; }; }); default = null; };
    strOrList = mkOption { type = types.either types.str (types.listOf types.str); };
    many = mkOption { type = types.oneOf [ types.bool types.int types.str ]; };
    coerced = mkOption { type = types.coercedTo types.int toString types.str; };
    coercedList = mkOption { type = types.coercedTo types.str (s: [ s ]) (types.listOf types.str); };
    fn = mkOption { type = types.functionTo (types.listOf types.int); };
    once = mkOption { type = types.uniq types.int; };
    csv = mkOption { type = types.commas; };
    sep = mkOption { type = types.separatedString " | "; };
    text = mkOption { type = types.lines; };
    pos = mkOption { type = types.ints.positive; };
    unsigned = mkOption { type = types.ints.unsigned; };
    between = mkOption { type = types.ints.between (-5) 5; };
    pattern = mkOption { type = types.strMatching "[a-z]+-[0-9]+"; };
    anyAttrs = mkOption { type = types.attrs; };
    anything = mkOption { type = types.anything; };
    raw = mkOption { type = types.raw; };
    lazy = mkOption { type = types.lazyAttrsOf types.int; };
    path = mkOption { type = types.path; };
    pkg = mkOption { type = types.package; };
    nonEmpty = mkOption { type = types.nonEmptyListOf types.str; };
    bools = mkOption { type = types.attrsOf types.bool; };
    flag = lib.mkEnableOption "the flag";
    float = mkOption { type = types.float; };
    desc = mkOption { type = types.str; };
  };
}
