# Option declarations and the helpers types use to merge definitions
# (nixpkgs lib.options).
{ lib }:
let
  inherit (builtins) length head tail all isList isAttrs isBool isString isInt
    filter concatLists concatStringsSep;

  prioritySuggestion = ''
    Use `lib.mkForce value` or `lib.mkDefault value` to change the priority on any of these definitions.
  '';
in
rec {
  isOption = lib.isType "option";

  # mkOption returns its attributes tagged as an option declaration; only
  # the attributes given are present, as evalModules tests `opt ? default`.
  mkOption =
    { default ? null, defaultText ? null, example ? null, description ? null
    , relatedPackages ? null, type ? null, apply ? null, internal ? null
    , visible ? null, readOnly ? null
    }@attrs:
    attrs // { _type = "option"; };

  mkEnableOption = name: mkOption {
    default = false;
    example = true;
    description = "Whether to enable ${name}.";
    type = lib.types.bool;
  };

  mkPackageOption = pkgs: name:
    { nullable ? false, default ? name, example ? null, extraDescription ? "", pkgsText ? "pkgs" }:
    let
      namePath = if isList name then name else [ name ];
      defaultPath = if isList default then default else [ default ];
      hasDefault = default != null;
      defaultValue = lib.attrByPath defaultPath
        (throw "${concatStringsSep "." defaultPath} cannot be found in ${pkgsText}") pkgs;
    in
    mkOption ({
      type = if nullable then lib.types.nullOr lib.types.package else lib.types.package;
      description = "The ${concatStringsSep "." namePath} package to use."
        + (if extraDescription == "" then "" else " " + extraDescription);
    } // lib.optionalAttrs hasDefault {
      default = defaultValue;
      defaultText = literalExpression "${pkgsText}.${concatStringsSep "." defaultPath}";
    } // lib.optionalAttrs (example != null) {
      example = literalExpression
        (if isList example then "${pkgsText}.${concatStringsSep "." example}" else example);
    });

  mkSinkUndeclaredOptions = attrs: mkOption ({
    internal = true;
    visible = false;
    default = false;
    description = "Sink for option definitions.";
    type = lib.types.raw;
    apply = x: throw "Option value is not readable because the option is not declared.";
  } // attrs);

  literalExpression = text: { _type = "literalExpression"; inherit text; };
  literalMD = text: { _type = "literalMD"; inherit text; };
  literalExample = literalExpression;
  mdDoc = x: x;

  getValues = map (x: x.value);
  getFiles = map (x: x.file);

  # mergeDefaultOption is the merge of types without a better idea
  # (types.unspecified): it concatenates lists, unions attrsets, ors bools.
  mergeDefaultOption = loc: defs:
    let list = getValues defs; in
    if length list == 1 then head list
    else if all lib.isFunction list then x: mergeDefaultOption loc (map (f: f x) list)
    else if all isList list then concatLists list
    else if all isAttrs list then builtins.foldl' (a: b: a // b) { } list
    else if all isBool list then builtins.foldl' (a: b: a || b) false list
    else if all isString list then lib.concatStrings list
    else if all isInt list && all (x: x == head list) list then head list
    else throw "Cannot merge definitions of `${showOption loc}'. Definition values:${showDefs defs}";

  mergeUniqueOption = { message, merge ? loc: defs: (head defs).value }: loc: defs:
    if length defs == 1 then merge loc defs
    else throw "The option `${showOption loc}' is defined multiple times while it's expected to be unique.\n${message}\nDefinition values:${showDefs defs}\n${prioritySuggestion}";

  mergeOneOption = mergeUniqueOption { message = ""; };

  # mergeEqualOption accepts several definitions only when they are equal;
  # this is what makes two files setting an int or string conflict.
  mergeEqualOption = loc: defs:
    if defs == [ ] then abort "This case should never happen."
    else if length defs == 1 then (head defs).value
    else (builtins.foldl' (first: def:
      if def.value != first.value
      then throw "The option `${showOption loc}' has conflicting definition values:${showDefs [ first def ]}\n${prioritySuggestion}"
      else first) (head defs) (tail defs)).value;

  showOption = parts:
    let
      part = p:
        if p == "*" || builtins.match "<(.*)>" p != null then p
        else lib.strings.escapeNixIdentifier p;
    in
    concatStringsSep "." (map part parts);

  showFiles = files: concatStringsSep " and " (map (f: "`${f}'") files);

  # showDefs renders definitions as nixpkgs does: "\n- In `FILE': VALUE",
  # at most five lines of the value, nothing if printing it fails.
  showDefs = defs: lib.concatMapStrings (def:
    let
      pretty = builtins.tryEval (lib.generators.toPretty { } def.value);
      lines = filter (v: !isList v) (builtins.split "\n" pretty.value);
      value = concatStringsSep "\n    " (lib.take 5 lines ++ lib.optional (length lines > 5) "...");
      shown =
        if !pretty.success then ""
        else if length lines > 1 then ":\n    " + value
        else ": " + value;
    in
    "\n- In `${def.file}'${shown}") defs;

  showOptionWithDefLocs = opt: ''
    ${showOption opt.loc}, with values defined in:
    ${concatStringsSep "\n" (map (f: "  - ${f}") opt.files)}
  '';
}
