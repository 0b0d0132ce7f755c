# The rest of nixpkgs' top-level lib that configs and package sets reach
# for: builtins re-exported under lib, package helpers (lib.meta,
# lib.customisation), fixed points and small list/attrset extras.
{ lib }:
let
  inherit (builtins) isString isAttrs attrNames length intersectAttrs removeAttrs
    attrValues all elem any filter listToAttrs;
in
{
  inherit (builtins) baseNameOf dirOf div mul fromJSON toJSON readFile pathExists
    readDir toFile hashString hashFile trace genericClosure unsafeGetAttrPos parseDrvName
    toXML getContext appendContext map placeholder bitAnd bitOr bitXor fromTOML
    compareVersions splitVersion ceil floor filterSource seq deepSeq;

  # Package helpers (lib.meta / lib.attrsets).
  getOutput = output: pkg:
    if !pkg ? outputSpecified || !pkg.outputSpecified then pkg.${output} or pkg.out or pkg else pkg;
  getBin = lib.getOutput "bin";
  getLib = lib.getOutput "lib";
  getDev = lib.getOutput "dev";
  getMan = lib.getOutput "man";
  getName = x: if isString x then (builtins.parseDrvName x).name else x.pname or (builtins.parseDrvName x.name).name;
  getVersion = x: if isString x then (builtins.parseDrvName x).version else x.version or (builtins.parseDrvName x.name).version;
  getExe = x: lib.getExe' x (x.meta.mainProgram or (lib.warn
    "getExe: Package ${lib.strings.escapeNixIdentifier x.meta.name or x.pname or x.name} does not have the meta.mainProgram attribute. We'll assume that the main program has the same name for now, but this behavior is deprecated, because it leads to surprising errors when the assumption does not hold. If the package has a main program, please set `meta.mainProgram` in its definition to make this warning go away. Otherwise, if the package does not have a main program, or if you don't control its definition, use getExe' to specify the name to the program, such as lib.getExe' foo \"bar\"."
    lib.getName x));
  getExe' = x: y:
    assert lib.assertMsg (lib.isDerivation x)
      "lib.meta.getExe': The first argument is of type ${builtins.typeOf x}, but it should be a derivation instead.";
    "${lib.getBin x}/bin/${y}";
  addMetaAttrs = newAttrs: drv: drv // { meta = (drv.meta or { }) // newAttrs; };
  setPrio = priority: lib.addMetaAttrs { inherit priority; };
  lowPrio = lib.setPrio 10;
  hiPrio = lib.setPrio (-10);
  toDerivation = path:
    let
      path' = builtins.storePath path;
      res = {
        type = "derivation";
        name = builtins.substring 33 (-1) (baseNameOf path');
        outPath = path';
        outputs = [ "out" ];
        out = res;
        outputName = "out";
      };
    in
    res;
  makeLibraryPath = lib.makeSearchPath "lib";
  makeIncludePath = lib.makeSearchPath "include";

  # makeOverridable gives a function's result an `override` that calls it
  # again with changed arguments (lib.customisation).
  makeOverridable = f:
    let
      f' = origArgs:
        let
          result = f origArgs;
          overrideArgs = newArgs: lib.makeOverridable f (origArgs // (if lib.isFunction newArgs then newArgs origArgs else newArgs));
        in
        if isAttrs result then result // { override = overrideArgs; }
        else if lib.isFunction result then lib.setFunctionArgs result (lib.functionArgs result) // { override = overrideArgs; }
        else result;
    in
    lib.setFunctionArgs f' (lib.functionArgs f);

  callPackageWith = autoArgs: fn: args:
    let
      f = if lib.isFunction fn then fn else import fn;
      fargs = lib.functionArgs f;
      allArgs = intersectAttrs fargs autoArgs // args;
      unpassed = removeAttrs fargs (attrNames allArgs);
      missing = builtins.head (filter (n: !unpassed.${n}) (attrNames unpassed));
    in
    if all (v: v) (attrValues unpassed) then lib.makeOverridable f allArgs
    else abort "lib.customisation.callPackageWith: Function called without required argument \"${missing}\"";

  # Fixed points (lib.fixedPoints).
  "fix'" = f: let x = f x // { __unfix__ = f; }; in x;
  extends = overlay: f: final: let prev = f final; in prev // overlay final prev;
  composeExtensions = f: g: final: prev:
    let fApplied = f final prev; prev' = prev // fApplied; in fApplied // g final prev';
  composeManyExtensions = builtins.foldl' (a: b: lib.composeExtensions a b) (final: prev: { });
  makeExtensible = lib.makeExtensibleWithCustomName "extend";
  makeExtensibleWithCustomName = extenderName: rattrs:
    lib."fix'" (self: (rattrs self) // {
      ${extenderName} = f: lib.makeExtensibleWithCustomName extenderName (lib.extends f rattrs);
    });

  # Small extras.
  mapNullable = f: a: if a == null then a else f a;
  warnIfNot = cond: msg: if cond then x: x else lib.warn msg;
  traceIf = pred: msg: x: if pred then builtins.trace msg x else x;
  traceVal = x: builtins.trace x x;
  takeEnd = n: xs: lib.drop (lib.max 0 (length xs - n)) xs;
  dropEnd = n: xs: lib.take (lib.max 0 (length xs - n)) xs;
  replaceElemAt = list: idx: newElem:
    assert lib.assertMsg (idx >= 0 && idx < length list) "'lists.replaceElemAt' called with index ${toString idx} on a list of size ${toString (length list)}";
    lib.imap0 (i: v: if i == idx then newElem else v) list;
  foldlAttrs = f: init: set: builtins.foldl' (acc: name: f acc name set.${name}) init (attrNames set);
  "genAttrs'" = xs: f: listToAttrs (map f xs);
  getAttrs = names: attrs: lib.genAttrs names (name: attrs.${name});
  mutuallyExclusive = a: b: length a == 0 || !(any (x: elem x a) b);
  mapCartesianProduct = f: attrsOfLists: map f (lib.cartesianProduct attrsOfLists);
  concatMapAttrsStringSep = sep: f: attrs: builtins.concatStringsSep sep (attrValues (builtins.mapAttrs f attrs));
  replaceString = from: to: builtins.replaceStrings [ from ] [ to ];
  uniqueStrings = list: attrNames (builtins.groupBy (x: x) list);
  importJSON = path: builtins.fromJSON (builtins.readFile path);
  importTOML = path: builtins.fromTOML (builtins.readFile path);
  fileContents = file: lib.removeSuffix "\n" (builtins.readFile file);
  showAttrPath = path:
    if path == [ ] then "<root attribute path>"
    else lib.concatMapStringsSep "." lib.strings.escapeNixIdentifier path;
  boolToYesNo = b: if b then "yes" else "no";
  versions = {
    splitVersion = builtins.splitVersion;
    major = v: builtins.elemAt (builtins.splitVersion v) 0;
    minor = v: builtins.elemAt (builtins.splitVersion v) 1;
    patch = v: builtins.elemAt (builtins.splitVersion v) 2;
    majorMinor = v: "${lib.versions.major v}.${lib.versions.minor v}";
  };

  # Option helpers that nixpkgs exports at the top level.
  mkDerivedConfig = opt: f: lib.mkOverride (opt.highestPrio or lib.modules.defaultOverridePriority) (f opt.value);
  inherit (lib.types) mkOptionType isOptionType defaultFunctor defaultTypeMerge;
}
