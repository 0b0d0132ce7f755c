# Package helpers, fixed points and other top-level lib extras.
{ lib }:
let
  drv = { type = "derivation"; name = "hello-2.12"; outPath = "/nix/store/00000000000000000000000000000000-hello-2.12"; };
  multi = drv // { bin = drv // { outPath = "/nix/store/00000000000000000000000000000000-hello-2.12-bin"; }; meta.mainProgram = "hi"; };
  ext = lib.makeExtensible (self: { a = 1; b = self.a + 1; });
  mk = lib.makeOverridable ({ a, b ? 2 }: { sum = a + b; });
in
{
  getExe = [ (lib.getExe drv) (lib.getExe multi) (lib.getExe' drv "other") ];
  getName = [ (lib.getName drv) (lib.getVersion drv) (lib.getName "foo-1.0") (lib.getVersion "foo-1.0") ];
  getOutput = [ "${lib.getBin multi}" "${lib.getBin drv}" "${lib.getLib drv}" ];
  meta = [ (lib.lowPrio drv).meta (lib.hiPrio drv).meta (lib.addMetaAttrs { x = 1; } multi).meta ];
  extensible = [ ext.b (ext.extend (final: prev: { a = 10; })).b ];
  fixedPoints = [ (lib.fix (self: { a = 1; b = self.a; })).b (lib.extends (final: prev: { b = prev.a + 1; }) (final: { a = 1; }) { }).b ];
  composeExtensions = (lib.fix (lib.extends (lib.composeExtensions (f: p: { a = p.a + 1; }) (f: p: { a = p.a * 10; })) (self: { a = 1; }))).a;
  overridable = [ (mk { a = 1; }).sum ((mk { a = 1; }).override { b = 10; }).sum ((mk { a = 1; }).override (old: { a = old.a + 5; })).sum ];
  callPackageWith = (lib.callPackageWith { a = 1; b = 5; c = 9; } ({ a, b ? 0 }: { r = a + b; }) { }).r;
  lists = [ (lib.takeEnd 2 [ 1 2 3 ]) (lib.dropEnd 1 [ 1 2 3 ]) (lib.replaceElemAt [ 1 2 3 ] 1 9) (lib.mutuallyExclusive [ 1 ] [ 2 ]) (lib.uniqueStrings [ "b" "a" "b" ]) ];
  attrs = [ (lib.foldlAttrs (acc: n: v: acc + v) 0 { a = 1; b = 2; }) (lib.getAttrs [ "a" ] { a = 1; b = 2; }) (lib.genAttrs' [ "x" ] (n: lib.nameValuePair "k-${n}" n)) ];
  strings = [ (lib.concatMapAttrsStringSep "," (n: v: "${n}=${v}") { a = "1"; b = "2"; }) (lib.replaceString "a" "b" "aXa") (lib.showAttrPath [ "a" "b c" ]) (lib.boolToYesNo true) ];
  misc = [ (lib.mapNullable (x: x + 1) null) (lib.mapNullable (x: x + 1) 1) (lib.versions.majorMinor "2.8.1") (lib.versions.major "2.8.1") (lib.mapCartesianProduct ({ a, b }: a + b) { a = [ 1 2 ]; b = [ 10 ]; }) ];
  builtinsReexported = [ (lib.baseNameOf "/a/b") (lib.dirOf "/a/b") (lib.div 7 2) (lib.fromJSON "[1]") (lib.toJSON { a = 1; }) (lib.compareVersions "1.2" "1.10") ];
  derived = (lib.evalModules { modules = [
    { options.a = lib.mkOption { type = lib.types.int; default = 1; }; options.b = lib.mkOption { type = lib.types.int; }; }
    ({ options, ... }: { b = lib.mkDerivedConfig options.a (x: x * 100); })
  ]; }).config;
}
