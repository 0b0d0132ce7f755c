# Option types (nixpkgs lib.types). A type is an attrset with name,
# description, check (shallow: only the head of a value) and merge
# (which checks nested values while merging, keeping evaluation lazy).
# Descriptions match nixpkgs word for word since users see them in errors.
{ lib }:
let
  inherit (builtins) head tail length filter all any isAttrs isList isString
    isInt isBool isFunction isPath concatLists mapAttrs zipAttrsWith elem toJSON;
  inherit (lib) mergeEqualOption mergeOneOption mergeUniqueOption mergeDefaultOption
    getValues getFiles showOption showFiles imap1 last
    filterAttrs optionalAttrs concatStringsSep concatMapStringsSep;
  inherit (lib.modules) mergeDefinitions evalModules;
  inherit (lib.options) showDefs;

  optionDescriptionPhrase = unparenthesize: t:
    if unparenthesize (t.descriptionClass or null) then t.description else "(${t.description})";

  # A functor describes how two declarations of the same option type
  # combine: same name and no payload/wrapped type → the type itself;
  # otherwise payloads merge by binOp, wrapped types recursively.
  defaultFunctor = name: {
    inherit name;
    type = lib.types.${name} or null;
    wrapped = null;
    payload = null;
    binOp = a: b: null;
  };

  elemTypeFunctor = name: wrapped: type: defaultFunctor name // { inherit wrapped type; };

  defaultTypeMerge = f: f':
    if f.name != f'.name then null
    else if f.payload != null && f'.payload != null then
      let payload = f.binOp f.payload f'.payload; in
      if payload == null then null else f.type payload
    else if f.wrapped != null && f'.wrapped != null then
      let wrapped = f.wrapped.typeMerge f'.wrapped.functor; in
      if wrapped == null then null else f.type wrapped
    else if f.payload == null && f'.payload == null && f.wrapped == null && f'.wrapped == null then
      f.type
    else null;

  mkOptionType =
    { name
    , description ? null
    , descriptionClass ? null
    , check ? (x: true)
    , merge ? mergeDefaultOption
    , emptyValue ? { }
    , getSubOptions ? prefix: { }
    , getSubModules ? null
    , substSubModules ? m: null
    , typeMerge ? defaultTypeMerge functor
    , functor ? defaultFunctor name
    , deprecationMessage ? null
    , nestedTypes ? { }
    }:
    {
      _type = "option-type";
      inherit name check merge emptyValue getSubOptions getSubModules substSubModules
        typeMerge functor deprecationMessage nestedTypes descriptionClass;
      description = if description == null then name else description;
    };

  isOptionType = lib.isType "option-type";

  # typeErrorDetail words the rest of a type error the way nixpkgs does for
  # types it merges with its newer ("v2") merge: listOf, attrsOf,
  # submodule, coercedTo say "TypeError: Definition values: ...".
  # Types without it get the classic "Definition values:..." wording.
  v2TypeError = { typeErrorDetail = loc: defs: invalid: "TypeError: Definition values: ${showDefs invalid}"; };

  addCheck = elemType: check: elemType // { check = x: elemType.check x && check x; };

  types = rec {
    inherit isOptionType mkOptionType addCheck defaultFunctor defaultTypeMerge optionDescriptionPhrase;
    isType = lib.isType;
    setType = lib.setType;

    raw = mkOptionType {
      name = "raw";
      description = "raw value";
      descriptionClass = "noun";
      check = value: true;
      merge = mergeOneOption;
    };

    # anything merges attrsets recursively, functions pointwise, and
    # otherwise wants equal definitions.
    anything = mkOptionType {
      name = "anything";
      description = "anything";
      descriptionClass = "noun";
      check = value: true;
      merge = loc: defs:
        let
          getType = value: if isAttrs value && lib.isStringLike value then "stringCoercibleSet" else builtins.typeOf value;
          commonType = builtins.foldl' (type: def:
            if getType def.value == type then type
            else throw "The option `${showOption loc}' has conflicting option types in ${showFiles (getFiles defs)}")
            (getType (head defs).value) defs;
          mergeFunction = {
            set = (attrsOf anything).merge;
            stringCoercibleSet = mergeOneOption;
            lambda = loc: defs: arg:
              anything.merge (loc ++ [ "<function body>" ]) (map (def: { file = def.file; value = def.value arg; }) defs);
          }.${commonType} or mergeEqualOption;
        in
        mergeFunction loc defs;
    };

    unspecified = mkOptionType {
      name = "unspecified";
      description = "unspecified value";
      descriptionClass = "noun";
    };

    bool = mkOptionType {
      name = "bool";
      description = "boolean";
      descriptionClass = "noun";
      check = isBool;
      merge = mergeEqualOption;
    };

    boolByOr = mkOptionType {
      name = "boolByOr";
      description = "boolean (merged using or)";
      descriptionClass = "noun";
      check = isBool;
      merge = loc: defs: builtins.foldl' (a: d: a || d.value) false defs;
    };

    int = mkOptionType {
      name = "int";
      description = "signed integer";
      descriptionClass = "noun";
      check = isInt;
      merge = mergeEqualOption;
    };

    ints =
      let
        betweenDesc = lowest: highest: "${toString lowest} and ${toString highest} (both inclusive)";
        between = lowest: highest:
          assert lib.assertMsg (lowest <= highest) "ints.between: lowest must be smaller than highest";
          addCheck int (x: x >= lowest && x <= highest) // {
            name = "intBetween";
            description = "integer between ${betweenDesc lowest highest}";
          };
        ign = lowest: highest: name: docStart:
          between lowest highest // { inherit name; description = docStart + "; between ${betweenDesc lowest highest}"; };
        unsign = bit: range: ign 0 (range - 1) "unsignedInt${toString bit}" "${toString bit} bit unsigned integer";
        sign = bit: range: ign (0 - (range / 2)) (range / 2 - 1) "signedInt${toString bit}" "${toString bit} bit signed integer";
      in
      {
        inherit between;
        unsigned = addCheck int (x: x >= 0) // {
          name = "unsignedInt";
          description = "unsigned integer, meaning >=0";
          descriptionClass = "nonRestrictiveClause";
        };
        positive = addCheck int (x: x > 0) // {
          name = "positiveInt";
          description = "positive integer, meaning >0";
          descriptionClass = "nonRestrictiveClause";
        };
        u8 = unsign 8 256;
        u16 = unsign 16 65536;
        u32 = unsign 32 4294967296;
        s8 = sign 8 256;
        s16 = sign 16 65536;
        s32 = sign 32 4294967296;
      };

    port = ints.u16;

    float = mkOptionType {
      name = "float";
      description = "floating point number";
      descriptionClass = "noun";
      check = builtins.isFloat;
      merge = mergeEqualOption;
    };

    number = either int float;

    str = mkOptionType {
      name = "str";
      description = "string";
      descriptionClass = "noun";
      check = isString;
      merge = mergeEqualOption;
    };

    nonEmptyStr = mkOptionType {
      name = "nonEmptyStr";
      description = "non-empty string";
      descriptionClass = "noun";
      check = x: str.check x && builtins.match "[ \t\n]*" x == null;
      inherit (str) merge;
    };

    singleLineStr = mkOptionType {
      name = "singleLineStr";
      description = "(optionally newline-terminated) single-line string";
      descriptionClass = "noun";
      inherit (strMatching "[^\n\r]*\n?") check;
      merge = loc: defs: lib.removeSuffix "\n" ((strMatching "[^\n\r]*\n?").merge loc defs);
    };

    strMatching = pattern: mkOptionType {
      name = "strMatching ${lib.strings.escapeNixString pattern}";
      description = "string matching the pattern ${pattern}";
      descriptionClass = "noun";
      check = x: str.check x && builtins.match pattern x != null;
      inherit (str) merge;
      functor = defaultFunctor "strMatching" // {
        type = payload: strMatching payload.pattern;
        payload = { inherit pattern; };
        binOp = lhs: rhs: if lhs == rhs then lhs else null;
      };
    };

    # separatedString joins all definitions (in mkOrder order) with sep.
    separatedString = sep: mkOptionType rec {
      name = "separatedString";
      description = "strings concatenated with ${toJSON sep}";
      descriptionClass = "noun";
      check = isString;
      merge = loc: defs: concatStringsSep sep (getValues defs);
      functor = defaultFunctor name // {
        payload = { inherit sep; };
        type = payload: separatedString payload.sep;
        binOp = lhs: rhs: if lhs.sep == rhs.sep then { inherit (lhs) sep; } else null;
      };
    };

    lines = separatedString "\n";
    commas = separatedString ",";
    envVar = separatedString ":";

    string = separatedString "" // { name = "string"; deprecationMessage = "See https://github.com/NixOS/nixpkgs/pull/66346 for better alternative types."; };

    passwdEntry = entryType: addCheck entryType (s: !(lib.hasInfix ":" s || lib.hasInfix "\n" s)) // {
      name = "passwdEntry ${entryType.name}";
      description = "${optionDescriptionPhrase (class: class == "noun") entryType}, not containing newlines or colons";
      descriptionClass = "nonRestrictiveClause";
    };

    attrs = mkOptionType {
      name = "attrs";
      description = "attribute set";
      check = isAttrs;
      merge = loc: builtins.foldl' (res: def: res // def.value) { };
      emptyValue = { value = { }; };
    };

    # package accepts derivations and store paths (strings or paths).
    package = mkOptionType {
      name = "package";
      descriptionClass = "noun";
      check = x: lib.isDerivation x || lib.isStorePath x;
      merge = loc: defs:
        let res = mergeOneOption loc defs; in
        if isPath res || (isString res && !builtins.hasContext res)
        then { type = "derivation"; outPath = toString res; name = baseNameOf (toString res); }
        else res;
    };

    shellPackage = package // { check = x: lib.isDerivation x && x ? shellPath; };

    path = mkOptionType {
      name = "path";
      description = "absolute path";
      descriptionClass = "noun";
      check = x: lib.isStringLike x && builtins.substring 0 1 (toString x) == "/";
      merge = mergeEqualOption;
    };

    pathInStore = mkOptionType {
      name = "pathInStore";
      description = "path in the Nix store";
      descriptionClass = "noun";
      check = x: lib.isStringLike x && lib.hasPrefix "${builtins.storeDir}/" (toString x);
      merge = mergeEqualOption;
    };

    listOf = elemType: mkOptionType rec {
      name = "listOf";
      description = "list of ${optionDescriptionPhrase (class: class == "noun" || class == "composite") elemType}";
      descriptionClass = "composite";
      check = isList;
      merge = loc: defs:
        map (x: x.value) (filter (x: x ? value) (concatLists (imap1 (n: def:
          imap1 (m: def':
            (mergeDefinitions (loc ++ [ "[definition ${toString n}-entry ${toString m}]" ]) elemType
              [ { inherit (def) file; value = def'; } ]).optionalValue) def.value) defs)));
      emptyValue = { value = [ ]; };
      getSubOptions = prefix: elemType.getSubOptions (prefix ++ [ "*" ]);
      getSubModules = elemType.getSubModules;
      substSubModules = m: listOf (elemType.substSubModules m);
      functor = elemTypeFunctor name elemType listOf;
      nestedTypes.elemType = elemType;
    } // v2TypeError;

    nonEmptyListOf = elemType:
      let list = addCheck (listOf elemType) (l: l != [ ]); in
      list // {
        description = "non-empty ${optionDescriptionPhrase (class: class == "noun") list}";
        emptyValue = { };
        substSubModules = m: nonEmptyListOf (elemType.substSubModules m);
      };

    attrsOf = elemType: attrsWith { inherit elemType; };
    lazyAttrsOf = elemType: attrsWith { inherit elemType; lazy = true; };

    # attrsWith merges each attribute's definitions separately, so one
    # attribute may come from several files with priorities of its own.
    attrsWith = { elemType, lazy ? false, placeholder ? "name" }: mkOptionType rec {
      name = if lazy then "lazyAttrsOf" else "attrsOf";
      description = (if lazy then "lazy attribute set" else "attribute set")
        + " of ${optionDescriptionPhrase (class: class == "noun" || class == "composite") elemType}";
      descriptionClass = "composite";
      check = isAttrs;
      merge = loc: defs:
        let
          pushed = map (def: mapAttrs (n: v: { inherit (def) file; value = v; }) def.value) defs;
          merged = zipAttrsWith (name: defs: mergeDefinitions (loc ++ [ name ]) elemType defs) pushed;
        in
        if lazy then
          mapAttrs (n: v: v.optionalValue.value or elemType.emptyValue.value or v.mergedValue) merged
        else
          mapAttrs (n: v: v.optionalValue.value) (filterAttrs (n: v: v.optionalValue ? value) merged);
      emptyValue = { value = { }; };
      getSubOptions = prefix: elemType.getSubOptions (prefix ++ [ "<${placeholder}>" ]);
      getSubModules = elemType.getSubModules;
      substSubModules = m: attrsWith { elemType = elemType.substSubModules m; inherit lazy placeholder; };
      functor = elemTypeFunctor name elemType (t: attrsWith { elemType = t; inherit lazy placeholder; });
      nestedTypes.elemType = elemType;
    } // v2TypeError;

    # uniq accepts a single definition only.
    uniq = unique { message = ""; };
    unique = { message }: type: mkOptionType rec {
      name = "unique";
      inherit (type) description descriptionClass check;
      merge = mergeUniqueOption { inherit message; inherit (type) merge; };
      emptyValue = type.emptyValue;
      getSubOptions = type.getSubOptions;
      getSubModules = type.getSubModules;
      substSubModules = m: unique { inherit message; } (type.substSubModules m);
      functor = elemTypeFunctor name type (unique { inherit message; });
      nestedTypes.elemType = type;
    };

    nullOr = elemType: mkOptionType rec {
      name = "nullOr";
      description = "null or ${optionDescriptionPhrase (class: class == "noun" || class == "conjunction") elemType}";
      descriptionClass = "conjunction";
      check = x: x == null || elemType.check x;
      merge = loc: defs:
        let nulls = filter (def: def.value == null) defs; in
        if nulls == [ ] then elemType.merge loc defs
        else if length nulls == length defs then null
        else throw "The option `${showOption loc}` is defined both null and not null, in ${showFiles (getFiles defs)}.";
      emptyValue = { value = null; };
      getSubOptions = elemType.getSubOptions;
      getSubModules = elemType.getSubModules;
      substSubModules = m: nullOr (elemType.substSubModules m);
      functor = elemTypeFunctor name elemType nullOr;
      nestedTypes.elemType = elemType;
    };

    functionTo = elemType: mkOptionType {
      name = "functionTo";
      description = "function that evaluates to a(n) ${optionDescriptionPhrase (class: class == "noun" || class == "composite") elemType}";
      descriptionClass = "composite";
      check = lib.isFunction;
      merge = loc: defs: callerArgs:
        (mergeDefinitions (loc ++ [ "<function body>" ]) elemType
          (map (fn: { inherit (fn) file; value = fn.value callerArgs; }) defs)).mergedValue;
      getSubOptions = prefix: elemType.getSubOptions (prefix ++ [ "<function body>" ]);
      getSubModules = elemType.getSubModules;
      substSubModules = m: functionTo (elemType.substSubModules m);
      functor = elemTypeFunctor "functionTo" elemType functionTo;
    };

    enum = values:
      let
        show = v:
          if isString v then ''"${v}"''
          else if isInt v then toString v
          else if isBool v then lib.boolToString v
          else "<${builtins.typeOf v}>";
      in
      mkOptionType rec {
        name = "enum";
        description =
          if values == [ ] then "impossible (empty enum)"
          else if length values == 1 then "value ${show (head values)} (singular enum)"
          else "one of ${concatMapStringsSep ", " show values}";
        descriptionClass = if length values < 2 then "noun" else "conjunction";
        check = x: elem x values;
        merge = mergeEqualOption;
        functor = defaultFunctor name // {
          payload = { inherit values; };
          type = payload: enum payload.values;
          binOp = a: b: { values = lib.unique (a.values ++ b.values); };
        };
      };

    either = t1: t2: mkOptionType rec {
      name = "either";
      description =
        if t1.descriptionClass or null == "nonRestrictiveClause"
        then "${t1.description}, or ${optionDescriptionPhrase (class: class == "noun" || class == "conjunction") t2}"
        else "${optionDescriptionPhrase (class: class == "noun" || class == "conjunction") t1} or ${
          optionDescriptionPhrase (class: class == "noun" || class == "conjunction" || class == "composite") t2}";
      descriptionClass = "conjunction";
      check = x: t1.check x || t2.check x;
      merge = loc: defs:
        let defList = map (d: d.value) defs; in
        if all t1.check defList then t1.merge loc defs
        else if all t2.check defList then t2.merge loc defs
        else mergeOneOption loc defs;
      typeMerge = f':
        let
          mt1 = t1.typeMerge (elemAt f'.wrapped 0).functor;
          mt2 = t2.typeMerge (elemAt f'.wrapped 1).functor;
          elemAt = builtins.elemAt;
        in
        if name == f'.name && mt1 != null && mt2 != null then either mt1 mt2 else null;
      functor = defaultFunctor name // { wrapped = [ t1 t2 ]; };
      nestedTypes.left = t1;
      nestedTypes.right = t2;
    } // {
      typeErrorDetail = loc: defs: invalid:
        "TypeError: The option `${showOption loc}` is neither a value of type `${t1.description}` nor `${t2.description}`, Definition values: ${showDefs defs}";
    };

    oneOf = ts:
      let head' = if ts == [ ] then throw "types.oneOf needs to get at least one type in its argument" else head ts; in
      builtins.foldl' either head' (tail ts);

    coercedTo = coercedType: coerceFunc: finalType: mkOptionType rec {
      name = "coercedTo";
      description = "${optionDescriptionPhrase (class: class == "noun") finalType} or ${
        optionDescriptionPhrase (class: class == "noun") coercedType} convertible to it";
      check = x: (coercedType.check x && finalType.check (coerceFunc x)) || finalType.check x;
      merge = loc: defs:
        let coerceVal = val: if coercedType.check val then coerceFunc val else val; in
        finalType.merge loc (map (def: def // { value = coerceVal def.value; }) defs);
      emptyValue = finalType.emptyValue;
      getSubOptions = finalType.getSubOptions;
      getSubModules = finalType.getSubModules;
      substSubModules = m: coercedTo coercedType coerceFunc (finalType.substSubModules m);
      typeMerge = t: null;
      functor = defaultFunctor name // { wrapped = finalType; };
      nestedTypes.coercedType = coercedType;
      nestedTypes.finalType = finalType;
    } // v2TypeError;

    deferredModule = deferredModuleWith { };
    deferredModuleWith = { staticModules ? [ ] }: mkOptionType {
      name = "deferredModule";
      description = "module";
      descriptionClass = "noun";
      check = x: isAttrs x || lib.isFunction x || path.check x;
      merge = loc: defs: {
        imports = staticModules ++ map (def: lib.setDefaultModuleLocation "${def.file}, via option ${showOption loc}" def.value) defs;
      };
      getSubModules = staticModules;
      substSubModules = m: deferredModuleWith { staticModules = m; };
      functor = defaultFunctor "deferredModuleWith" // {
        type = deferredModuleWith;
        payload = { inherit staticModules; };
        binOp = lhs: rhs: { staticModules = lhs.staticModules ++ rhs.staticModules; };
      };
    };

    optionType = raw // { name = "optionType"; description = "optionType"; };

    submodule = modules: submoduleWith { shorthandOnlyDefinesConfig = true; modules = lib.toList modules; };

    # submoduleWith evaluates each attribute's definitions as modules of
    # their own, with `name' (the attribute name) among the module args.
    submoduleWith = { modules, specialArgs ? { }, shorthandOnlyDefinesConfig ? false, description ? null, class ? null }@attrs:
      let
        allModules = defs: map ({ value, file }:
          if isAttrs value && shorthandOnlyDefinesConfig
          then { _file = file; config = value; }
          else { _file = file; imports = [ value ]; }) defs;
        base = evalModules {
          inherit class specialArgs;
          modules = [ { _module.args.name = lib.mkOptionDefault "‹name›"; } ] ++ modules;
        };
        name = "submodule";
      in
      mkOptionType {
        inherit name;
        description = if description != null then description else name;
        check = x: isAttrs x || lib.isFunction x || path.check x;
        merge = loc: defs:
          (base.extendModules {
            modules = [ { _module.args.name = last loc; } ] ++ allModules defs;
            prefix = loc;
          }).config;
        emptyValue = { value = base.config; };
        getSubOptions = prefix: (base.extendModules { inherit prefix; }).options;
        getSubModules = modules;
        substSubModules = m: submoduleWith (attrs // { modules = m; });
        functor = defaultFunctor name // {
          type = submoduleWith;
          payload = { inherit modules class specialArgs shorthandOnlyDefinesConfig description; };
          binOp = lhs: rhs: {
            class = if lhs.class == null then rhs.class else if rhs.class == null then lhs.class
              else if lhs.class == rhs.class then lhs.class
              else throw "A submoduleWith option is declared multiple times with conflicting class values \"${toString lhs.class}\" and \"${toString rhs.class}\".";
            modules = lhs.modules ++ rhs.modules;
            specialArgs =
              let intersecting = builtins.intersectAttrs lhs.specialArgs rhs.specialArgs; in
              if intersecting == { } then lhs.specialArgs // rhs.specialArgs
              else throw "A submoduleWith option is declared multiple times with the same specialArgs \"${toString (builtins.attrNames intersecting)}\"";
            shorthandOnlyDefinesConfig =
              if lhs.shorthandOnlyDefinesConfig == null then rhs.shorthandOnlyDefinesConfig
              else if rhs.shorthandOnlyDefinesConfig == null then lhs.shorthandOnlyDefinesConfig
              else if lhs.shorthandOnlyDefinesConfig == rhs.shorthandOnlyDefinesConfig then lhs.shorthandOnlyDefinesConfig
              else throw "A submoduleWith option is declared multiple times with conflicting shorthandOnlyDefinesConfig values";
            description = if lhs.description == null then rhs.description
              else if rhs.description == null then lhs.description
              else if lhs.description == rhs.description then lhs.description
              else throw "A submoduleWith option is declared multiple times with conflicting descriptions";
          };
        };
      } // v2TypeError;
  };
in
types
