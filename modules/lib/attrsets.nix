# Attribute-set helpers (nixpkgs lib.attrsets).
{ lib }:
let
  inherit (builtins) head tail length attrNames getAttr hasAttr isAttrs
    listToAttrs foldl' concatMap filter mapAttrs elem;
in
rec {
  inherit (builtins) attrNames attrValues getAttr hasAttr listToAttrs mapAttrs
    removeAttrs intersectAttrs catAttrs zipAttrsWith functionArgs;

  nameValuePair = name: value: { inherit name value; };

  attrByPath = attrPath: default: set:
    let
      go = path: s:
        if path == [ ] then s
        else if isAttrs s && s ? ${head path} then go (tail path) s.${head path}
        else default;
    in go attrPath set;

  hasAttrByPath = attrPath: set:
    attrPath == [ ]
    || (isAttrs set && set ? ${head attrPath} && hasAttrByPath (tail attrPath) set.${head attrPath});

  getAttrFromPath = attrPath: set:
    attrByPath attrPath (throw "cannot find attribute `${lib.concatStringsSep "." attrPath}'") set;

  setAttrByPath = attrPath: value:
    if attrPath == [ ] then value
    else { ${head attrPath} = setAttrByPath (tail attrPath) value; };

  filterAttrs = pred: set:
    listToAttrs (concatMap (name: let v = set.${name}; in if pred name v then [ (nameValuePair name v) ] else [ ]) (attrNames set));

  filterAttrsRecursive = pred: set:
    listToAttrs (concatMap (name:
      let v = set.${name}; in
      if pred name v then [ (nameValuePair name (if isAttrs v then filterAttrsRecursive pred v else v)) ] else [ ]
    ) (attrNames set));

  mapAttrs' = f: set: listToAttrs (map (attr: f attr set.${attr}) (attrNames set));

  mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (attrNames attrs);
  attrsToList = mapAttrsToList nameValuePair;

  mapAttrsRecursive = f: set: mapAttrsRecursiveCond (as: true) f set;

  mapAttrsRecursiveCond = cond: f: set:
    let
      recurse = path: mapAttrs (name: value:
        if isAttrs value && cond value then recurse (path ++ [ name ]) value
        else f (path ++ [ name ]) value);
    in recurse [ ] set;

  genAttrs = names: f: listToAttrs (map (n: nameValuePair n (f n)) names);

  optionalAttrs = cond: as: if cond then as else { };

  foldAttrs = op: nul: list_of_attrs:
    foldl' (a: n: foldl' (a: name: a // { ${name} = op n.${name} (a.${name} or nul); }) a (attrNames n))
      { } (lib.reverseList list_of_attrs);

  zipAttrsWithNames = names: f: sets:
    listToAttrs (map (name: { inherit name; value = f name (builtins.catAttrs name sets); }) names);
  zipAttrs = zipAttrsWith (name: values: values);

  recursiveUpdateUntil = pred: lhs: rhs:
    let
      f = attrPath: zipAttrsWith (n: values:
        let here = attrPath ++ [ n ]; in
        if length values == 1 || pred here (lib.elemAt values 1) (head values)
        then head values
        else f here values);
    in f [ ] [ rhs lhs ];

  recursiveUpdate = recursiveUpdateUntil (path: lhs: rhs: !(isAttrs lhs && isAttrs rhs));

  collect = pred: attrs:
    if pred attrs then [ attrs ]
    else if isAttrs attrs then concatMap (collect pred) (builtins.attrValues attrs)
    else [ ];

  isDerivation = value: value.type or null == "derivation";


  attrVals = nameList: set: map (x: set.${x}) nameList;

  concatMapAttrs = f: v: foldl' (a: b: a // b) { } (mapAttrsToList f v);

  updateManyAttrsByPath = throw "lib.updateManyAttrsByPath is not supported by nd's offline lib";

  mergeAttrsList = list: foldl' (a: b: a // b) { } list;

  cartesianProduct = attrsOfLists:
    foldl' (listOfAttrs: attrName:
      concatMap (attrs: map (listValue: attrs // { ${attrName} = listValue; }) attrsOfLists.${attrName}) listOfAttrs
    ) [ { } ] (attrNames attrsOfLists);

  dontRecurseIntoAttrs = attrs: attrs // { recurseForDerivations = false; };
  recurseIntoAttrs = attrs: attrs // { recurseForDerivations = true; };
}
