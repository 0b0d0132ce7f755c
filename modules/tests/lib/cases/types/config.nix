{ lib, options, ... }: {
  imports = [ ./options.nix ./more.nix ];
  applied = [ "c" ];
  maybeSet = { };
  strOrList = [ "x" "y" ];
  many = 42;
  coerced = 7;
  coercedList = "one";
  fn = x: [ x ];
  once = 1;
  csv = "a";
  sep = "l";
  text = "line 1";
  pos = 3;
  unsigned = 0;
  between = -5;
  pattern = "abc-123";
  anyAttrs = { a = 1; };
  anything = { a.b = [ 1 ]; c = "x"; };
  raw = { fn = 1; };
  lazy = { a = 1; b = lib.mkIf false 2; };
  path = "/etc/hosts";
  pkg = "/nix/store/00000000000000000000000000000000-pkg";
  nonEmpty = [ "n" ];
  bools.x = true;
  float = 1.5;
  desc = "${options.flag.description}";
}
