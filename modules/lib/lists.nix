# List helpers (nixpkgs lib.lists).
{ lib }:
let
  inherit (builtins) head tail length elemAt genList foldl' filter concatLists isList;
in
rec {
  inherit (builtins) head tail length elemAt elem genList filter concatLists
    concatMap foldl' any all sort partition groupBy;

  optional = cond: elem: if cond then [ elem ] else [ ];
  optionals = cond: elems: if cond then elems else [ ];
  toList = x: if isList x then x else [ x ];
  singleton = x: [ x ];

  foldr = op: nul: list:
    let
      len = length list;
      go = n: if n == len then nul else op (elemAt list n) (go (n + 1));
    in go 0;
  fold = foldr;
  foldl = op: nul: list: foldl' op nul list;

  imap0 = f: list: genList (n: f n (elemAt list n)) (length list);
  imap1 = f: list: genList (n: f (n + 1) (elemAt list n)) (length list);

  flatten = x: if isList x then concatMap (y: flatten y) x else [ x ];

  remove = e: filter (x: x != e);

  findFirst = pred: default: list:
    let found = filter pred list; in if found == [ ] then default else head found;
  findSingle = pred: default: multiple: list:
    let found = filter pred list; len = length found; in
    if len == 0 then default else if len != 1 then multiple else head found;

  count = pred: foldl' (c: x: if pred x then c + 1 else c) 0;

  range = first: last:
    if first > last then [ ] else genList (n: first + n) (last - first + 1);

  replicate = n: elem: genList (_: elem) n;

  reverseList = xs: let l = length xs; in genList (n: elemAt xs (l - n - 1)) l;

  unique = foldl' (acc: e: if builtins.elem e acc then acc else acc ++ [ e ]) [ ];
  allUnique = list: length (unique list) == length list;

  intersectLists = e: filter (x: builtins.elem x e);
  subtractLists = e: filter (x: !(builtins.elem x e));

  last = list:
    assert lib.assertMsg (list != [ ]) "lists.last: list must not be empty!";
    elemAt list (length list - 1);
  init = list:
    assert lib.assertMsg (list != [ ]) "lists.init: list must not be empty!";
    take (length list - 1) list;

  take = count: sublist 0 count;
  drop = count: list: sublist count (length list) list;
  sublist = start: count: list:
    let len = length list; in
    genList (n: elemAt list (n + start))
      (if start >= len then 0 else if start + count > len then len - start else count);

  zipListsWith = f: fst: snd:
    genList (n: f (elemAt fst n) (elemAt snd n)) (lib.min (length fst) (length snd));
  zipLists = zipListsWith (fst: snd: { inherit fst snd; });

  sortOn = f: list:
    map (x: x.v) (builtins.sort (a: b: a.k < b.k) (map (v: { inherit v; k = f v; }) list));

  naturalSort = builtins.sort builtins.lessThan;

  forEach = xs: f: map f xs;

  ifilter0 = ipred: input:
    map (idx: elemAt input idx) (filter (idx: ipred idx (elemAt input idx)) (genList (x: x) (length input)));

}
