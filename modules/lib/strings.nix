# String helpers (nixpkgs lib.strings).
{ lib }:
let
  inherit (builtins) length match replaceStrings substring stringLength
    concatStringsSep elemAt genList filter isString toJSON;
in
rec {
  inherit (builtins) concatStringsSep replaceStrings substring stringLength
    toString match split hasContext unsafeDiscardStringContext;

  concatStrings = concatStringsSep "";
  concatMapStrings = f: list: concatStrings (map f list);
  concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
  concatImapStrings = f: list: concatStrings (lib.imap1 f list);
  concatImapStringsSep = sep: f: list: concatStringsSep sep (lib.imap1 f list);
  concatLines = list: concatStrings (map (s: s + "\n") list);

  optionalString = cond: string: if cond then string else "";

  intersperse = separator: list:
    if list == [ ] || length list == 1 then list
    else builtins.tail (lib.concatMap (x: [ separator x ]) list);

  stringToCharacters = s: genList (p: substring p 1 s) (stringLength s);
  stringAsChars = f: s: concatMapStrings f (stringToCharacters s);

  hasPrefix = pref: str: substring 0 (stringLength pref) str == pref;
  hasSuffix = suffix: content:
    let lenContent = stringLength content; lenSuffix = stringLength suffix; in
    lenContent >= lenSuffix && substring (lenContent - lenSuffix) lenContent content == suffix;
  hasInfix = infix: content: match ".*${escapeRegex infix}.*" "${content}" != null;

  removePrefix = prefix: str:
    let preLen = stringLength prefix; in
    if hasPrefix prefix str then substring preLen (stringLength str - preLen) str else str;
  removeSuffix = suffix: str:
    let sufLen = stringLength suffix; sLen = stringLength str; in
    if sufLen <= sLen && suffix == substring (sLen - sufLen) sufLen str
    then substring 0 (sLen - sufLen) str else str;

  lowerChars = stringToCharacters "abcdefghijklmnopqrstuvwxyz";
  upperChars = stringToCharacters "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  toLower = replaceStrings upperChars lowerChars;
  toUpper = replaceStrings lowerChars upperChars;

  escape = list: replaceStrings list (map (c: "\\${c}") list);
  escapeRegex = escape (stringToCharacters "\\[{()^$?*+|.");
  escapeNixString = s: escape [ "$" ] (toJSON s);

  escapeShellArg = arg:
    let string = toString arg; in
    if match "[[:alnum:],._+:@%/-]+" string == null
    then "'${replaceStrings [ "'" ] [ "'\\''" ] string}'"
    else string;
  escapeShellArgs = concatMapStringsSep " " escapeShellArg;

  nixKeywords = [ "assert" "else" "if" "in" "inherit" "let" "or" "rec" "then" "with" ];
  escapeNixIdentifier = s:
    if match "[a-zA-Z_][a-zA-Z0-9_'-]*" s != null && !(builtins.elem s nixKeywords)
    then s else escapeNixString s;

  splitString = sep: s:
    filter isString (builtins.split (escapeRegex (toString sep)) (toString s));

  trim = s:
    let m = match "[[:space:]]*(.*[^[:space:]])[[:space:]]*" s; in
    if m == null then "" else elemAt m 0;

  fixedWidthString = width: filler: str:
    let strw = stringLength str; reqWidth = width - (stringLength filler); in
    assert lib.assertMsg (strw <= width)
      "fixedWidthString: requested string length (${toString width}) must not be shorter than actual length (${toString strw})";
    if strw == width then str else filler + fixedWidthString reqWidth filler str;
  fixedWidthNumber = width: n: fixedWidthString width "0" (toString n);

  isValidPosixName = name: match "[a-zA-Z_][a-zA-Z0-9_]*" name != null;

  toShellVar = name: value: "${name}=${escapeShellArg value}";
  toShellVars = vars: concatStringsSep "\n" (lib.mapAttrsToList toShellVar vars);

  versionOlder = v1: v2: builtins.compareVersions v2 v1 == 1;
  versionAtLeast = v1: v2: !versionOlder v1 v2;

  toInt = str:
    let m = match "[[:space:]]*(-?[0-9]+)[[:space:]]*" str; in
    if m == null then throw "Could not convert ${str} to int." else builtins.fromJSON (elemAt m 0);

  isStorePath = x:
    let s = toString x; in
    lib.isStringLike x && builtins.match "${builtins.storeDir}/[^/.][^/]*" s != null;

  enableFeature = flag: feature: "--${if flag then "enable" else "disable"}-${feature}";
  withFeature = flag: feature: "--${if flag then "with" else "without"}-${feature}";

  makeBinPath = paths: concatStringsSep ":" (map (p: "${p.bin or p.out or p}/bin") paths);
  makeSearchPath = subDir: paths: concatStringsSep ":" (map (p: "${p}/${subDir}") paths);

  # levenshtein is the edit distance between two strings; used to suggest
  # the option a user probably meant.
  levenshtein = a: b:
    let
      as = stringToCharacters a;
      bs = stringToCharacters b;
      nextRow = prev: ca:
        builtins.foldl' (row: j:
          let
            cost = if ca == elemAt bs (j - 1) then 0 else 1;
            v = lib.min (lib.min (elemAt prev j + 1) (elemAt row (j - 1) + 1)) (elemAt prev (j - 1) + cost);
          in
          row ++ [ v ]) [ (builtins.head prev + 1) ] (lib.range 1 (length bs));
    in
    lib.last (builtins.foldl' nextRow (genList (j: j) (length bs + 1)) as);

  levenshteinAtMost = k: a: b: levenshtein a b <= k;
}
