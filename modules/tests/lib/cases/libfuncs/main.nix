# General lib functions configs use; results must equal nixpkgs'.
{ lib }:
with lib;
let
  set = { a = 1; b = 2; c = { d = 3; }; };
in
{
  attrsets = {
    mapAttrs = mapAttrs (n: v: n) set;
    mapAttrsToList = mapAttrsToList (n: v: n) set;
    mapAttrs' = mapAttrs' (n: v: nameValuePair "x-${n}" n) set;
    filterAttrs = filterAttrs (n: v: isInt v && v > 1) set;
    attrNames = attrNames set;
    attrValues = attrValues { x = 1; y = 2; };
    optionalAttrs = [ (optionalAttrs true { a = 1; }) (optionalAttrs false { a = 1; }) ];
    recursiveUpdate = recursiveUpdate { a.b = 1; a.c = 2; d = 1; } { a.b = 10; d = { e = 1; }; };
    genAttrs = genAttrs [ "x" "y" ] (n: "v-${n}");
    listToAttrs = listToAttrs [ (nameValuePair "k" 1) { name = "k"; value = 2; } ];
    attrByPath = [ (attrByPath [ "c" "d" ] 0 set) (attrByPath [ "c" "z" ] 0 set) ];
    setAttrByPath = setAttrByPath [ "x" "y" ] 1;
    hasAttrByPath = [ (hasAttrByPath [ "c" "d" ] set) (hasAttrByPath [ "c" "e" ] set) ];
    getAttrFromPath = getAttrFromPath [ "c" "d" ] set;
    getAttr = getAttr "a" set;
    foldAttrs = foldAttrs (n: a: [ n ] ++ a) [ ] [ { a = 2; } { a = 3; b = 1; } ];
    zipAttrsWith = zipAttrsWith (n: vs: vs) [ { a = 1; } { a = 2; b = 3; } ];
    zipAttrs = zipAttrs [ { a = 1; } { a = 2; } ];
    mapAttrsRecursive = mapAttrsRecursive (path: v: concatStringsSep "." path) set;
    collect = collect isInt set;
    concatMapAttrs = concatMapAttrs (n: v: { "${n}1" = v; }) { a = 1; b = 2; };
    attrsToList = attrsToList { a = 1; };
    isDerivation = [ (isDerivation { type = "derivation"; }) (isDerivation { }) ];
    cartesianProduct = cartesianProduct { a = [ 1 2 ]; b = [ "x" ]; };
  };
  lists = {
    optional = [ (optional true 1) (optional false 1) ];
    optionals = [ (optionals true [ 1 2 ]) (optionals false [ 1 ]) ];
    flatten = flatten [ 1 [ 2 [ 3 ] ] [ ] ];
    unique = unique [ 3 1 3 2 1 ];
    concatMap = concatMap (x: [ x x ]) [ 1 2 ];
    imap0 = imap0 (i: v: "${toString i}${v}") [ "a" "b" ];
    imap1 = imap1 (i: v: "${toString i}${v}") [ "a" "b" ];
    foldl' = foldl' (a: b: a - b) 10 [ 1 2 ];
    foldr = foldr (a: b: "(${a}${b})") "" [ "x" "y" ];
    foldl = foldl (a: b: "(${a}${b})") "" [ "x" "y" ];
    range = [ (range 2 5) (range 3 1) ];
    sort = sort lessThan [ 3 1 2 ];
    elem = [ (elem 2 [ 1 2 ]) (elem 5 [ 1 ]) ];
    headTailLast = [ (head [ 1 2 3 ]) (tail [ 1 2 3 ]) (last [ 1 2 3 ]) (init [ 1 2 3 ]) ];
    filter = filter (x: x > 1) [ 1 2 3 ];
    anyAll = [ (any isInt [ "a" 1 ]) (all isInt [ "a" 1 ]) ];
    length = length [ 1 2 ];
    toList = [ (toList 1) (toList [ 1 ]) ];
    takeDrop = [ (take 2 [ 1 2 3 ]) (drop 2 [ 1 2 3 ]) (sublist 1 5 [ 1 2 3 ]) ];
    reverseList = reverseList [ 1 2 3 ];
    remove = remove 2 [ 1 2 3 2 ];
    findFirst = [ (findFirst (x: x > 1) null [ 1 2 3 ]) (findFirst (x: x > 5) "none" [ 1 ]) ];
    count = count isInt [ 1 "a" 2 ];
    zipLists = zipLists [ 1 2 ] [ "a" "b" "c" ];
    intersectSubtract = [ (intersectLists [ 1 2 ] [ 2 3 ]) (subtractLists [ 1 2 ] [ 1 2 3 ]) ];
    sortOn = sortOn (x: x.k) [ { k = 2; } { k = 1; } ];
    replicate = replicate 3 "x";
    forEach = forEach [ 1 2 ] (x: x * 2);
    partition = partition (x: x > 1) [ 1 2 3 ];
    groupBy = groupBy (x: if x > 1 then "big" else "small") [ 1 2 3 ];
    singleton = singleton 1;
  };
  strings = {
    concatStrings = concatStrings [ "a" "b" ];
    concatStringsSep = concatStringsSep ", " [ "a" "b" ];
    concatMapStrings = concatMapStrings (x: x + ";") [ "a" "b" ];
    concatMapStringsSep = concatMapStringsSep "-" toUpper [ "a" "b" ];
    concatLines = concatLines [ "a" "b" ];
    optionalString = [ (optionalString true "y") (optionalString false "n") ];
    escapeShellArg = map escapeShellArg [ "simple" "with space" "it's" "" "a/b:c@d%e+f" "$x" ];
    escapeShellArgs = escapeShellArgs [ "a" "b c" ];
    splitString = [ (splitString "," "a,b,,c") (splitString "." "x") (splitString ", " "a, b") ];
    hasPrefix = [ (hasPrefix "ab" "abc") (hasPrefix "b" "abc") ];
    hasSuffix = [ (hasSuffix "bc" "abc") (hasSuffix "x" "abc") (hasSuffix "abcd" "abc") ];
    hasInfix = [ (hasInfix "b" "abc") (hasInfix "." "abc") ];
    removePrefix = [ (removePrefix "ab" "abc") (removePrefix "x" "abc") ];
    removeSuffix = [ (removeSuffix "bc" "abc") (removeSuffix "x" "abc") ];
    toUpperLower = [ (toUpper "aBc1") (toLower "AbC1") ];
    replaceStrings = replaceStrings [ "a" "b" ] [ "1" "2" ] "abcab";
    fixedWidthNumber = [ (fixedWidthNumber 4 42) (fixedWidthString 3 " " "x") ];
    toString = [ (toString 1) (toString true) (toString false) (toString null) (toString [ 1 "a" ]) (toString /tmp) ];
    stringToCharacters = stringToCharacters "abc";
    escapeNixIdentifier = map lib.strings.escapeNixIdentifier [ "abc" "a b" "if" "x-1" ];
    escapeNixString = lib.strings.escapeNixString "a\"$b";
    trim = trim "  x y \n";
    intersperse = intersperse "," [ "a" "b" "c" ];
    toInt = toInt "42";
    isStorePath = [ (isStorePath "/nix/store/00000000000000000000000000000000-x") (isStorePath "/tmp/x") ];
    versionAtLeast = [ (versionAtLeast "2.8" "2.10") (versionOlder "2.8" "2.10") ];
    makeBinPath = makeBinPath [ "/a" "/b" ];
    toShellVar = toShellVar "X" "a b";
    isValidPosixName = [ (isValidPosixName "a_1") (isValidPosixName "1a") ];
  };
  trivial = {
    id = id 1;
    const = const 1 2;
    flip = flip (a: b: a - b) 1 10;
    pipe = pipe 2 [ (x: x + 1) (x: x * 10) ];
    boolToString = [ (boolToString true) (boolToString false) ];
    mod = [ (mod 7 3) (mod (-7) 3) ];
    maxMin = [ (max 1 2) (min 1 2) ];
    isFunction = [ (isFunction id) (isFunction 1) (isFunction { __functor = self: x: x; }) ];
    functionArgs = functionArgs ({ a, b ? 1 }: a);
    defaultTo = [ (defaultTo 1 null) (defaultTo 1 2) ];
    xor = [ (xor true false) (xor true true) ];
    toFunction = [ (toFunction 1 2) (toFunction (x: x + 1) 2) ];
    assertMsg = assertMsg true "never";
  };
  options = {
    showOption = map showOption [ [ "a" "b" ] [ "a" "b c" "<name>" "*" ] ];
    isOption = [ (isOption (mkOption { })) (isOption { }) ];
    mkEnableOption = builtins.removeAttrs (mkEnableOption "x") [ "type" ];
    literal = literalExpression "pkgs.x";
    mdDoc = if lib ? mdDoc then lib.mdDoc "d" else "d"; # removed from recent nixpkgs
    getValues = getValues [ { value = 1; } ];
    getFiles = getFiles [ { file = "f"; } ];
  };
  generators = {
    pretty = map (generators.toPretty { }) [ 1 "s" "a\nb" [ 1 2 ] { a.b = 1; } [ ] { } null true (x: x) ({ a, ... }: a) ];
    prettyOneLine = generators.toPretty { multiline = false; } { a = [ 1 2 ]; };
  };
  modules = {
    mkIf = mkIf true 1;
    mkMerge = mkMerge [ 1 ];
    prios = map (f: (f 0).priority) [ mkDefault mkOptionDefault mkForce mkVMOverride mkImageMediaOverride (mkOverride 7) mkBefore mkAfter (mkOrder 3) ];
    inherit (lib.modules) defaultOverridePriority defaultOrderPriority;
  };
  types = {
    isType = [ (isType "if" (mkIf true 1)) (types.isType "option-type" types.int) (types.isOptionType types.str) ];
    checks = [ (types.port.check 65535) (types.port.check 65536) (types.str.check 1) (types.path.check "/a") (types.path.check "a") (types.package.check { type = "derivation"; }) ];
    names = map (t: t.name) [ types.str types.port types.int (types.listOf types.int) (types.attrsOf types.int) types.bool types.lines (types.enum [ 1 ]) ];
  };
}
