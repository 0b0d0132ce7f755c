# A realistic closure for the transfer benchmark: host files (compiler,
# libraries) split into N store paths, each referring to two earlier ones.
# groups is a directory holding g0000 ... g(N-1), prepared by the benchmark.
{ groups, n, busyboxDir }:
let
  bb = builtins.path { path = busyboxDir; name = "nd-bench-busybox"; };
  src = i: builtins.path { path = groups + "/g${pad i}"; name = "nd-bench-src-${toString i}"; };
  pad = i: let s = toString i; in builtins.substring 0 (4 - builtins.stringLength s) "0000" + s;
  pkg = i: derivation {
    name = "nd-bench-pkg-${toString i}";
    system = builtins.currentSystem;
    builder = "${bb}/bin/sh";
    args = [ "-c" ''
      ${bb}/bin/busybox mkdir -p $out
      ${bb}/bin/busybox cp -r ${src i} $out/files
      ${bb}/bin/busybox chmod -R u+w $out
      ${if i > 0 then "echo ${pkgs (i - 1)} > $out/deps" else ""}
      ${if i > 1 then "echo ${pkgs (i / 2)} >> $out/deps" else ""}
    '' ];
  };
  all = builtins.genList pkg n;
  pkgs = builtins.elemAt all;
in pkgs (n - 1)
