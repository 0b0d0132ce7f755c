# nd-push options: every option nd's modules declare, read from the modules'
# own declarations the way NixOS documents its options (optionAttrSetToDocList),
# evaluated with nixpkgs' lib alone: it needs neither pkgs nor a config.
#   nix-instantiate --eval --strict --json options-doc.nix --arg lib /nixpkgs/lib
# gives a list of { name, type, description, default?, example?, declaredIn },
# sorted by name. Values are shown as Nix text; a default that needs pkgs or
# the rest of a configuration (and has no defaultText) shows as "(computed)".
{ lib }:
let
  nixLib = import lib;
  inherit (builtins) typeOf tryEval concatLists attrNames isAttrs sort lessThan
    concatStringsSep toJSON baseNameOf;

  eval = nixLib.evalModules {
    modules = import ./module-list.nix ++ [
      { _module.args.pkgs = throw "pkgs is not available while listing options"; }
    ];
  };

  isLiteral = v: isAttrs v && (v._type or "") == "literalExpression" || (v._type or "") == "literalExample";

  # show renders a value as Nix text without forcing more than it prints;
  # functions and derivations are named, not expanded.
  show = v:
    let t = typeOf v; in
    if t == "lambda" then "<function>"
    else if t == "set" then
      (if isLiteral v then v.text
       else if (v.type or "") == "derivation" then "<derivation ${v.name or "?"}>"
       else if v == { } then "{ }"
       else "{ " + concatStringsSep " " (map (n: "${n} = ${show v.${n}};") (attrNames v)) + " }")
    else if t == "list" then (if v == [ ] then "[ ]" else "[ " + concatStringsSep " " (map show v) + " ]")
    else if t == "string" then toJSON v
    else if t == "path" then toString v
    else if t == "null" then "null"
    else if t == "bool" then (if v then "true" else "false")
    else toString v;

  # safeShow: a throw while rendering (pkgs, an unset option) means the
  # value is computed from the configuration.
  safeShow = v: let r = tryEval (show v); in if r.success then r.value else "(computed)";

  doc = loc: opt: {
    name = concatStringsSep "." (opt.loc or loc);
    type = opt.type.description or "unspecified";
    description = opt.description or "";
    declaredIn = map (d: baseNameOf (toString d)) (opt.declarations or [ ]);
  }
  // (if opt ? defaultText && opt.defaultText != null then { default = if isLiteral opt.defaultText then opt.defaultText.text else toString opt.defaultText; }
      else if opt ? default then { default = safeShow opt.default; } else { })
  // (if opt ? example && opt.example != null then { example = safeShow opt.example; } else { });

  # walk collects the options under opts at loc, descending into the
  # options of submodules (attrsOf submodule as <name>, listOf as *).
  walk = loc: opts: concatLists (map (n:
    let v = opts.${n}; l = loc ++ [ n ]; in
    if n == "_module" then [ ]
    else if nixLib.isOption v then
      (if (v.internal or false) || !(v.visible or true) then [ ] else [ (doc l v) ])
      ++ walk [ ] (subOptions l v)
    else if isAttrs v then walk l v
    else [ ]) (attrNames opts));

  subOptions = loc: opt:
    let s = tryEval ((opt.type.getSubOptions or (_: { })) loc); in
    if s.success then s.value else { };

  named = walk [ ] eval.options;
in
sort (a: b: lessThan a.name b.name) named
