# Small combinators and numeric helpers (nixpkgs lib.trivial).
{ lib }:
rec {
  id = x: x;
  const = x: _: x;
  flip = f: a: b: f b a;
  pipe = builtins.foldl' (x: f: f x);
  concat = x: y: x ++ y;
  "or" = x: y: x || y;
  "and" = x: y: x && y;
  xor = x: y: (!x) != (!y);
  boolToString = b: if b then "true" else "false";
  mergeAttrs = x: y: x // y;
  max = x: y: if x > y then x else y;
  min = x: y: if x < y then x else y;
  mod = base: int: base - (int * (builtins.div base int));
  compare = a: b: if a < b then -1 else if a > b then 1 else 0;
  isFunction = f: builtins.isFunction f || (f ? __functor && isFunction (f.__functor f));
  functionArgs = f:
    if f ? __functor
    then f.__functionArgs or (functionArgs (f.__functor f))
    else builtins.functionArgs f;
  setFunctionArgs = f: args: { __functor = self: f; __functionArgs = args; };
  toFunction = v: if isFunction v then v else _: v;
  seq = builtins.seq;
  deepSeq = builtins.deepSeq;
  # Nix before 2.23 has no builtins.warn; nixpkgs traces the same prefix.
  warn = msg: builtins.trace "evaluation warning: ${msg}";
  warnIf = cond: msg: if cond then warn msg else x: x;
  throwIf = cond: msg: if cond then throw msg else x: x;
  throwIfNot = cond: msg: if cond then x: x else throw msg;
  assertMsg = pred: msg: pred || builtins.throw msg;
  inherit (builtins) isInt isBool isString isList isAttrs isPath isFloat
    add sub lessThan typeOf tryEval addErrorContext;
  isStringLike = x: builtins.isString x || builtins.isPath x || x ? outPath || x ? __toString;
  fix = f: let x = f x; in x;
  isType = type: x: (x._type or "") == type;
  setType = typeName: value: value // { _type = typeName; };
  defaultTo = default: maybeValue: if maybeValue != null then maybeValue else default;
  inNixShell = false;
  version = "nd-offline";
  isInOldestRelease = _: true;
}
