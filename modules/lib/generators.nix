# Value printers (nixpkgs lib.generators), mainly toPretty for error messages.
{ lib }:
let
  inherit (builtins) isInt isFloat isString isBool isPath isList isAttrs
    length filter split concatStringsSep replaceStrings toJSON;
in
rec {
  # toPretty prints a value as Nix-like text, in the layout nixpkgs uses for
  # "Definition values:" in module errors. Below depthLimit nested values are
  # elided so cyclic values (pkgs) cannot hang an error message.
  toPretty = { allowPrettyValues ? false, multiline ? true, indent ? "", depthLimit ? 10 }:
    let
      go = depth: indent: v:
        let
          intro = if multiline then "\n${indent}  " else " ";
          outro = if multiline then "\n${indent}" else " ";
          nested = go (depth + 1) (indent + "  ");
        in
        if isInt v then toString v
        else if isFloat v then toJSON v
        else if isString v then prettyString intro outro v
        else if v == true then "true"
        else if v == false then "false"
        else if v == null then "null"
        else if isPath v then toString v
        else if depth >= depthLimit then "<unevaluated>"
        else if isList v then
          (if v == [ ] then "[ ]" else "[" + intro + concatStringsSep intro (map nested v) + outro + "]")
        else if lib.isFunction v then
          let
            args = lib.functionArgs v;
            shown = concatStringsSep ", " (lib.mapAttrsToList (n: d: if d then n + "?" else n) args);
          in
          if args == { } then "<function>" else "<function, args: {${shown}}>"
        else if isAttrs v then
          if allowPrettyValues && v ? __pretty && v ? val then v.__pretty v.val
          else if v == { } then "{ }"
          else if v.type or null == "derivation" then "<derivation ${v.name or "???"}>"
          else "{" + intro
            + concatStringsSep intro (lib.mapAttrsToList (n: x: "${lib.strings.escapeNixIdentifier n} = ${nested x};") v)
            + outro + "}"
        else "<${builtins.typeOf v}>";

      prettyString = intro: outro: s:
        let
          lines = filter (l: !isList l) (split "\n" s);
          single = "\"" + concatStringsSep "\\n" (map (lib.escape [ "\\" "\"" "\${" ]) lines) + "\"";
          escaped = map (replaceStrings [ "\${" "''" ] [ "''\${" "'''" ]) lines;
          lastLine = lib.last escaped;
          multi = "''" + intro + concatStringsSep intro (lib.init escaped)
            + (if lastLine == "" then outro else intro + lastLine) + "''";
        in
        if multiline && length lines > 1 then multi else single;
    in
    go 0 indent;

  toJSON = { }: builtins.toJSON;
  toYAML = { }: builtins.toJSON;

  # toKeyValue renders a flat attrset as "key=value" lines.
  toKeyValue = { mkKeyValue ? k: v: "${k}=${toString v}", listsAsDuplicateKeys ? false }: attrs:
    lib.concatStrings (lib.mapAttrsToList (k: v:
      if listsAsDuplicateKeys && isList v
      then lib.concatMapStrings (x: mkKeyValue k x + "\n") v
      else mkKeyValue k v + "\n") attrs);

  # toINI renders { section = { key = value; }; } as an INI file.
  toINI = { mkKeyValue ? k: v: "${k}=${toString v}", listsAsDuplicateKeys ? false, mkSectionName ? n: n }: attrs:
    concatStringsSep "\n" (lib.mapAttrsToList (sec: vals:
      "[${mkSectionName sec}]\n" + toKeyValue { inherit mkKeyValue listsAsDuplicateKeys; } vals) attrs);
}
