# nd's offline subset of nixpkgs' lib: enough of the module system and of the
# general helpers for nd's modules and users' config.nix files to evaluate
# without nixpkgs. Names and semantics follow nixpkgs' lib so the same module
# files give the same results on both; see modules/tests/lib for the cases that
# are checked against the real nixpkgs lib.
let
  fix = f: let x = f x; in x;

  lib = fix (self:
    let
      callLibs = file: import file { lib = self; };
      trivial = callLibs ./trivial.nix;
      attrsets = callLibs ./attrsets.nix;
      lists = callLibs ./lists.nix;
      strings = callLibs ./strings.nix;
      generators = callLibs ./generators.nix;
      options = callLibs ./options.nix;
      modules = callLibs ./modules.nix;
      types = callLibs ./types.nix;
      misc = callLibs ./misc.nix;
    in
    {
      inherit trivial attrsets lists strings generators options modules types;
      inherit (misc) versions;
      fixedPoints = { inherit (trivial) fix; inherit (misc) extends composeExtensions composeManyExtensions makeExtensible makeExtensibleWithCustomName; "fix'" = misc."fix'"; };
      customisation = { inherit (misc) makeOverridable callPackageWith; };
      meta = { inherit (misc) getExe getExe' addMetaAttrs setPrio lowPrio hiPrio; };
    }
    // removeAttrs (trivial // attrsets // lists // strings // options // modules // misc) notTopLevel
    // { inherit types; }
  );

  # Names nixpkgs keeps only in its sub-attrsets (lib.strings.escapeNixString,
  # lib.modules.defaultOverridePriority, ...). Hiding them at the top level
  # keeps a module that works offline from failing with nixpkgs.
  notTopLevel = [
    "applyModuleArgs" "collectModules" "defaultOrderPriority" "defaultOverridePriority"
    "defaultPriority" "escapeNixIdentifier" "escapeNixString" "filterOverrides'"
    "mkAliasAndWrapDefsWithPriority" "mkAliasIfDef" "nixKeywords" "showDefs"
    "levenshtein" "levenshteinAtMost"
  ];
in
lib
