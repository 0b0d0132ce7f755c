# The module system (nixpkgs lib.modules): evalModules and the definition
# properties mkIf, mkMerge, mkOverride and mkOrder.
#
# The evaluation follows nixpkgs' structure so that results agree:
#  1. collect modules through `imports` (breadth first, deduplicated by key,
#     as builtins.genericClosure orders them), apply module functions to
#     their arguments and normalise each to { _file key imports options config };
#  2. walk option declarations and definitions in parallel (mergeModules),
#     merging each option's definitions by priority, order and type;
#  3. check that every definition met an option, else name it and its file.
{ lib }:
let
  inherit (builtins) head tail length filter concatLists concatMap attrNames
    isAttrs isList isBool isString isFunction mapAttrs zipAttrsWith
    removeAttrs typeOf addErrorContext genericClosure elem seq;
  inherit (lib.options) showOption showFiles showDefs;
  inherit (lib) isOption mkOption types
    imap1 mapAttrsToList mapAttrsRecursiveCond optionalAttrs last init;
in
rec {
  defaultOverridePriority = 100;
  defaultOrderPriority = 1000;
  # Older name kept by nixpkgs for compatibility.
  defaultPriority = defaultOverridePriority;

  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkMerge = contents: { _type = "merge"; inherit contents; };
  mkOverride = priority: content: { _type = "override"; inherit priority content; };
  mkOptionDefault = mkOverride 1500;
  mkDefault = mkOverride 1000;
  mkImageMediaOverride = mkOverride 60;
  mkForce = mkOverride 50;
  mkVMOverride = mkOverride 10;
  mkOrder = priority: content: { _type = "order"; inherit priority content; };
  mkBefore = mkOrder 500;
  mkAfter = mkOrder 1500;
  mkFixStrictness = x: x;

  # mkDefinition lets a definition carry its own file for error messages.
  mkDefinition = args@{ file, value }: args // { _type = "definition"; };

  evalModules = evalModulesArgs@{ modules, prefix ? [ ], args ? { }, specialArgs ? { }
    , check ? true, class ? null }:
    let
      internalModule = rec {
        _file = "lib/modules.nix";
        key = _file;
        options = {
          _module.args = mkOption {
            type = types.lazyAttrsOf types.raw;
            internal = true;
            description = "Additional arguments passed to each module.";
          };
          _module.check = mkOption {
            type = types.bool;
            internal = true;
            default = check;
            description = "Whether to check whether all option definitions have matching declarations.";
          };
          _module.freeformType = mkOption {
            type = types.nullOr types.raw;
            internal = true;
            default = null;
            description = "Type merging definitions that have no option.";
          };
          _module.specialArgs = mkOption {
            readOnly = true;
            internal = true;
            description = "Externally provided module arguments.";
          };
        };
        config = {
          _module.args = { inherit extendModules; moduleType = type; } // args;
          _module.specialArgs = specialArgs;
        };
      };

      moduleArgs = {
        inherit lib options specialArgs;
        _class = class;
        _prefix = prefix;
        config = addErrorContext "if you get an infinite recursion here, you probably reference `config` in `imports`." config;
      } // specialArgs;

      collected = collectModules (specialArgs.modulesPath or "") (modules ++ [ internalModule ]) moduleArgs;

      merged = mergeModules prefix (lib.reverseList collected);

      options = merged.matchedOptions;

      config =
        let
          declared = mapAttrsRecursiveCond (v: !isOption v) (_: v: v.value) options;
          freeform =
            let
              defs = map (def: { file = def.file; value = lib.setAttrByPath def.prefix def.value; })
                merged.unmatchedDefns;
            in
            if defs == [ ] then { } else declared._module.freeformType.merge prefix defs;
        in
        if declared._module.freeformType == null then declared
        else lib.recursiveUpdate freeform declared;

      checkUnmatched =
        if config._module.check && config._module.freeformType == null && merged.unmatchedDefns != [ ] then
          let
            firstDef = head merged.unmatchedDefns;
            absParent = init (prefix ++ firstDef.prefix);
            parent = init firstDef.prefix;
            siblings = attrNames (lib.attrByPath parent { } options);
            candidates = if parent == [ ] then lib.remove "_module" siblings else siblings;
            invalid = last firstDef.prefix;
            suggestions = lib.take 3 (lib.sortOn (lib.strings.levenshtein invalid)
              (if length candidates < 100 then candidates else filter (lib.strings.levenshteinAtMost 2 invalid) candidates));
            quoted = s: "`${showOption (absParent ++ [ s ])}'";
            suggestion =
              if suggestions == [ ] then ""
              else if length suggestions == 1 then "\n\nDid you mean ${quoted (head suggestions)}?"
              else "\n\nDid you mean ${lib.concatStringsSep ", " (map quoted (init suggestions))} or ${quoted (last suggestions)}?";
            baseMsg = "The option `${showOption (prefix ++ firstDef.prefix)}' does not exist. Definition values:${showDefs [ firstDef ]}${suggestion}";
          in
          if attrNames options == [ "_module" ] then
            if showOption prefix == "" then
              throw ''
                ${baseMsg}

                It seems as if you're trying to declare an option by placing it into `config' rather than `options'!
              ''
            else
              throw ''
                ${baseMsg}

                However there are no options defined in `${showOption prefix}'. Are you sure you've
                declared your options properly? This can happen if you e.g. declared your options in `types.submodule'
                under `config' rather than `options'.
              ''
          else throw baseMsg
        else null;

      checked = seq checkUnmatched;

      extendModules = extendArgs@{ modules ? [ ], specialArgs ? { }, prefix ? [ ] }:
        evalModules (evalModulesArgs // {
          modules = evalModulesArgs.modules ++ modules;
          specialArgs = (evalModulesArgs.specialArgs or { }) // specialArgs;
          prefix = extendArgs.prefix or evalModulesArgs.prefix or [ ];
        });

      type = types.submoduleWith { inherit modules specialArgs class; };
    in
    {
      _type = "configuration";
      options = checked options;
      config = checked (removeAttrs config [ "_module" ]);
      _module = checked config._module;
      inherit extendModules type class;
    };

  # collectModules returns the normalised modules in the order nixpkgs
  # merges them: genericClosure over keys, so each file counts once.
  collectModules = modulesPath: initialModules: args:
    let
      load = fallbackFile: fallbackKey: m:
        if lib.isFunction m then
          unifyModuleSyntax fallbackFile fallbackKey (applyModuleArgs fallbackKey m args)
        else if isAttrs m then
          if m._type or "module" == "module" then unifyModuleSyntax fallbackFile fallbackKey m
          else if m._type == "if" || m._type == "override" then load fallbackFile fallbackKey { config = m; }
          else throw "Expected a module, but found a value of type `${m._type}' in `${fallbackFile}'."
        else if isList m then
          throw "Module imports can't be nested lists. Perhaps you meant to remove one level of lists? Definitions: ${showDefs [ { file = fallbackFile; value = m; } ]}"
        else
          let f = import m; in
          unifyModuleSyntax (toString m) (toString m)
            (if lib.isFunction f then applyModuleArgs (toString m) f args else f);

      structured = parentFile: parentKey: ms:
        imap1 (n: x:
          let module = load parentFile "${parentKey}:anon-${toString n}" x; in
          {
            inherit (module) key;
            inherit module;
            modules = structured module._file module.key module.imports;
            disabled = map (d: { file = module._file; value = d; }) module.disabledModules;
          }) ms;

      tree = structured "<unknown-file>" "" initialModules;

      disabledKeys =
        let
          all = concatLists (map (n: n.disabled)
            (genericClosure { startSet = tree; operator = n: n.modules; }));
          keyOf = d:
            let m = d.value; in
            if isString m then (if builtins.substring 0 1 m == "/" then m else toString modulesPath + "/" + m)
            else if isAttrs m && m ? key then m.key
            else toString m;
        in
        map keyOf all;

      keep = filter (n: !(elem n.key disabledKeys));
    in
    map (n: n.module) (genericClosure { startSet = keep tree; operator = n: keep n.modules; });

  # unifyModuleSyntax turns every module form into the structured form;
  # a module without `config'/`options' is shorthand for its config.
  unifyModuleSyntax = file: key: m:
    let
      addMeta = config: if m ? meta then mkMerge [ config { meta = m.meta; } ] else config;
      addFreeformType = config:
        if m ? freeformType then mkMerge [ config { _module.freeformType = m.freeformType; } ] else config;
    in
    if m ? config || m ? options then
      let
        badAttrs = removeAttrs m [ "_class" "_file" "key" "disabledModules" "imports" "options" "config" "meta" "freeformType" ];
      in
      if badAttrs != { } then
        throw "Module `${key}' has an unsupported attribute `${head (attrNames badAttrs)}'. This is caused by introducing a top-level `config' or `options' attribute. Add configuration attributes immediately on the top level instead, or move all of them (namely: ${toString (attrNames badAttrs)}) into the explicit `config' attribute."
      else {
        _file = toString m._file or file;
        key = toString m.key or key;
        disabledModules = m.disabledModules or [ ];
        imports = m.imports or [ ];
        options = m.options or { };
        config = addFreeformType (addMeta (m.config or { }));
      }
    else
      lib.throwIfNot (isAttrs m) "module ${file} (${key}) does not look like a module." {
        _file = toString m._file or file;
        key = toString m.key or key;
        disabledModules = m.disabledModules or [ ];
        imports = m.require or [ ] ++ m.imports or [ ];
        options = { };
        config = addFreeformType (removeAttrs m [ "_class" "_file" "key" "disabledModules" "require" "imports" "freeformType" ]);
      };

  # applyModuleArgs calls a module function with exactly the arguments it
  # names: explicit ones (lib, config, options, specialArgs) first, then
  # config._module.args (pkgs, name, ...), each looked up lazily.
  applyModuleArgs = key: f: args@{ config, ... }:
    let
      extraArgs = mapAttrs (name: _:
        addErrorContext "while evaluating the module argument `${name}' in \"${key}\":"
          (args.${name} or config._module.args.${name}))
        (lib.functionArgs f);
    in
    f (args // extraArgs);

  setDefaultModuleLocation = file: m: { _file = file; imports = [ m ]; };

  mergeModules = prefix: modules:
    mergeModules' prefix modules
      (concatMap (m: map (config: { file = m._file; inherit config; }) (pushDownProperties m.config)) modules);

  mergeModules' = prefix: modules: configs:
    let
      declsByName = zipAttrsWith (n: v: v) (map (module:
        let subtree = module.options; in
        if !(isAttrs subtree) then
          throw ''
            An option declaration for `${lib.concatStringsSep "." prefix}' has type
            `${typeOf subtree}' rather than an attribute set.
            Did you mean to define this outside of `options'?
          ''
        else mapAttrs (n: option: { inherit (module) _file; options = option; }) subtree) modules);

      checkedConfigs = map (c:
        if isAttrs c.config then c
        else throw ''
          In module `${c.file}', you're trying to define a value of type `${typeOf c.config}'
          rather than an attribute set for the option
          `${lib.concatStringsSep "." prefix}'!

          This usually happens if `${lib.concatStringsSep "." prefix}' has option
          definitions inside that are not matched. Please check how to properly define
          this option by e.g. referring to `man 5 configuration.nix'!
        '') configs;

      pushedByName = zipAttrsWith (n: concatLists) (map (module:
        mapAttrs (n: value: map (config: { inherit (module) file; inherit config; }) (pushDownProperties value))
          module.config) checkedConfigs);

      rawByName = zipAttrsWith (n: v: v) (map (module:
        mapAttrs (n: value: { inherit (module) file; inherit value; }) module.config) checkedConfigs);

      # An option tree declared next to a submodule option extends it.
      optionTreeToOption = decl:
        if isOption decl.options then decl
        else decl // {
          options = mkOption {
            type = types.submoduleWith { modules = [ { options = decl.options; } ]; shorthandOnlyDefinesConfig = null; };
          };
        };

      resultsByName = mapAttrs (name: decls:
        let
          loc = prefix ++ [ name ];
          defns = pushedByName.${name} or [ ];
          defns' = rawByName.${name} or [ ];
          optionDecls = filter (m: isOption m.options) decls;
        in
        if length optionDecls == length decls then
          { matchedOptions = evalOptionValue loc (mergeOptionDecls loc decls) defns'; unmatchedDefns = [ ]; }
        else if optionDecls != [ ] then
          if lib.all (x: x.options.type.name or null == "submodule") optionDecls then
            { matchedOptions = evalOptionValue loc (mergeOptionDecls loc (map optionTreeToOption decls)) defns'; unmatchedDefns = [ ]; }
          else
            throw "The option `${showOption loc}' in module `${(head optionDecls)._file}' would be a parent of the following options, but its type `${(head optionDecls).options.type.description or "<no description>"}' does not support nested options.\n${
              lib.concatMapStrings (d: "- option(s) with prefix `${showOption loc}' in module `${d._file}'\n") (filter (m: !isOption m.options) decls)}"
        else mergeModules' loc decls defns) declsByName;

      matchedOptions = mapAttrs (n: v: v.matchedOptions) resultsByName;

      unmatchedDefnsByName =
        mapAttrs (n: v: v.unmatchedDefns) resultsByName
        // removeAttrs rawByName (attrNames matchedOptions);
    in
    {
      inherit matchedOptions;
      unmatchedDefns =
        if configs == [ ] then [ ]
        else concatLists (mapAttrsToList (name: defs:
          map (def: def // { prefix = [ name ] ++ (def.prefix or [ ]); }) defs) unmatchedDefnsByName);
    };

  # mergeOptionDecls combines the declarations of one option from several
  # modules. Only types can merge (submodules extend each other); two
  # defaults, descriptions, examples or applys conflict.
  mergeOptionDecls = loc: opts:
    builtins.foldl' (res: opt:
      let
        declType = t:
          if t.getSubModules or null != null
          then t.substSubModules (map (setDefaultModuleLocation opt._file) t.getSubModules)
          else t;
        alreadyDeclared = "The option `${showOption loc}' in `${opt._file}' is already declared in ${showFiles res.declarations}.";
        typeSet =
          if opt.options ? type && res ? type then
            let merged = res.type.typeMerge (declType opt.options.type).functor; in
            if merged == null then throw alreadyDeclared else { type = merged; }
          else if opt.options ? type then { type = declType opt.options.type; }
          else { };
        bothHave = k: opt.options ? ${k} && res ? ${k};
      in
      if bothHave "default" || bothHave "example" || bothHave "description" || bothHave "apply" then
        throw alreadyDeclared
      else
        opt.options // res // typeSet // { declarations = res.declarations ++ [ opt._file ]; })
      { inherit loc; declarations = [ ]; options = [ ]; } opts;

  # evalOptionValue merges an option's definitions (plus its default at
  # mkOptionDefault priority) and returns the option with its value.
  evalOptionValue = loc: opt0: defs:
    let
      opt = { type = types.unspecified; } // opt0;
      defs' = (lib.optional (opt ? default) { file = head opt.declarations; value = mkOptionDefault opt.default; }) ++ defs;
      res =
        if opt.readOnly or false && length defs' > 1 then
          let separateDefs = map (def: def // { value = (mergeDefinitions loc opt.type [ def ]).mergedValue; }) defs'; in
          throw "The option `${showOption loc}' is read-only, but it's set multiple times. Definition values:${showDefs separateDefs}"
        else mergeDefinitions loc opt.type defs';
      value = if opt.apply or null != null then opt.apply res.mergedValue else res.mergedValue;
    in
    removeAttrs opt [ "options" ] // {
      value = addErrorContext "while evaluating the option `${showOption loc}':" value;
      inherit (res.defsFinal') highestPrio;
      definitions = map (def: def.value) res.defsFinal;
      files = map (def: def.file) res.defsFinal;
      definitionsWithLocations = res.defsFinal;
      inherit (res) isDefined;
      __toString = _: showOption loc;
    };

  # mergeDefinitions applies mkIf/mkMerge, keeps the definitions of the
  # highest priority, sorts by mkOrder, then type-checks and merges.
  mergeDefinitions = loc: type: defs: rec {
    defsFinal' =
      let
        normalized = concatMap (m:
          map (value: if value._type or null == "definition" then value else { inherit (m) file; inherit value; })
            (addErrorContext "while evaluating definitions from `${m.file}':" (dischargeProperties m.value))) defs;
        filtered = filterOverrides' normalized;
        sorted =
          if lib.any (def: def.value._type or "" == "order") filtered.values
          then sortProperties filtered.values else filtered.values;
      in
      { values = sorted; inherit (filtered) highestPrio; };
    defsFinal = defsFinal'.values;

    mergedValue =
      if isDefined then
        if lib.all (def: type.check def.value) defsFinal then type.merge loc defsFinal
        else
          let allInvalid = filter (def: !type.check def.value) defsFinal; in
          throw "A definition for option `${showOption loc}' is not of type `${type.description}'. ${
            if type ? typeErrorDetail then type.typeErrorDetail loc defsFinal allInvalid
            else "Definition values:${showDefs allInvalid}"}"
      else if type.emptyValue ? value then type.emptyValue.value
      else throw "The option `${showOption loc}' was accessed but has no value defined. Try setting the option.";

    isDefined = defsFinal != [ ];
    optionalValue = if isDefined then { value = mergedValue; } else { };
  };

  # pushDownProperties moves mkIf/mkOverride from an attrset into its
  # attributes (and flattens mkMerge), so a condition is only evaluated
  # when the option below it is.
  pushDownProperties = cfg:
    if cfg._type or "" == "merge" then concatMap pushDownProperties cfg.contents
    else if cfg._type or "" == "if" then map (mapAttrs (n: v: mkIf cfg.condition v)) (pushDownProperties cfg.content)
    else if cfg._type or "" == "override" then map (mapAttrs (n: v: mkOverride cfg.priority v)) (pushDownProperties cfg.content)
    else [ cfg ];

  dischargeProperties = def:
    if def._type or "" == "merge" then concatMap dischargeProperties def.contents
    else if def._type or "" == "if" then
      if isBool def.condition then
        (if def.condition then dischargeProperties def.content else [ ])
      else throw "‘mkIf’ called with a non-Boolean condition"
    else [ def ];

  filterOverrides = defs: (filterOverrides' defs).values;
  filterOverrides' = defs:
    let
      getPrio = def: if def.value._type or "" == "override" then def.value.priority else defaultOverridePriority;
      highestPrio = builtins.foldl' (prio: def: lib.min (getPrio def) prio) 9999 defs;
      strip = def: if def.value._type or "" == "override" then def // { value = def.value.content; } else def;
    in
    { values = concatMap (def: if getPrio def == highestPrio then [ (strip def) ] else [ ]) defs; inherit highestPrio; };

  sortProperties = defs:
    let
      strip = def:
        if def.value._type or "" == "order"
        then def // { value = def.value.content; inherit (def.value) priority; }
        else def;
      defs' = map strip defs;
      compare = a: b: (a.priority or defaultOrderPriority) < (b.priority or defaultOrderPriority);
    in
    builtins.sort compare defs';

  fixMergeModules = modules: args: evalModules { inherit modules args; check = false; };

  # mkAliasOptionModule makes option `from' an alias of option `to'.
  mkAliasOptionModule = from: to: doRename { inherit from to; visible = true; warn = false; use = x: x; };
  mkRenamedOptionModule = from: to: doRename {
    inherit from to;
    visible = false;
    warn = true;
    use = builtins.trace "Obsolete option `${showOption from}' is used. It was renamed to `${showOption to}'.";
  };
  mkRemovedOptionModule = optionName: replacementInstructions: { options, ... }: {
    options = lib.setAttrByPath optionName (mkOption {
      visible = false;
      apply = x: throw "The option `${showOption optionName}' can no longer be used since it's been removed. ${replacementInstructions}";
    });
  };

  doRename = { from, to, visible, warn, use, withPriority ? true }:
    { config, options, ... }:
    let
      fromOpt = lib.getAttrFromPath from options;
      toOf = lib.attrByPath to (abort "Renaming error: option `${showOption to}' does not exist.");
      toType = let opt = lib.attrByPath to { } options; in opt.type or (types.submodule { });
    in
    {
      options = lib.setAttrByPath from (mkOption {
        inherit visible;
        description = "Alias of {option}`${showOption to}`.";
        apply = x: use (toOf config);
        type = toType;
      });
      config = mkMerge [
        (optionalAttrs (options ? warnings) {
          warnings = lib.optional (warn && fromOpt.isDefined)
            "The option `${showOption from}' defined in ${showFiles fromOpt.files} has been renamed to `${showOption to}'.";
        })
        (if withPriority
          then mkAliasAndWrapDefsWithPriority (lib.setAttrByPath to) fromOpt
          else mkAliasAndWrapDefinitions (lib.setAttrByPath to) fromOpt)
      ];
    };

  mkAliasDefinitions = mkAliasAndWrapDefinitions (x: x);
  mkAliasAndWrapDefinitions = wrap: option: mkAliasIfDef option (wrap (mkMerge option.definitions));
  mkAliasAndWrapDefsWithPriority = wrap: option:
    let
      prio = option.highestPrio or defaultOverridePriority;
      defsWithPrio = map (mkOverride prio) option.definitions;
    in
    mkAliasIfDef option (wrap (mkMerge defsWithPrio));
  mkAliasIfDef = option: mkIf (isOption option && option.isDefined);
}
