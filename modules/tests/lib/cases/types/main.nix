{ lib }:
let
  eval = lib.evalModules { modules = [ ./config.nix ]; };
in
let c = eval.config; in {
  inherit (c) applied maybe maybeSet strOrList many coerced coercedList once csv sep text pos unsigned between pattern anyAttrs anything raw path nonEmpty bools flag float desc;
  fn = c.fn 3;
  lazyA = c.lazy.a;
  lazyNames = builtins.attrNames c.lazy;
  pkg = "${c.pkg}";
  descriptions = lib.mapAttrs (n: o: o.type.description) (builtins.removeAttrs eval.options [ "_module" ]);
}
