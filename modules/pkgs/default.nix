# A minimal, offline stand-in for nixpkgs: the trivial builders nd's modules and
# users' configs need, all built with a static busybox. No internet, no stdenv.
#
# Arguments:
#   busybox: a directory holding bin/busybox (static) and bin/sh -> busybox;
#            it is copied into the store with builtins.path.
#   lib:     the module-system library (offline lib or nixpkgs' lib).
#   system:  the build platform.
#   extraPkgs: a function pkgs -> attrs of more packages (e.g. host binaries
#            imported into the store by tests), or null.
{ busybox, lib ? null, system ? builtins.currentSystem, extraPkgs ? null }:
let
  bbSrc = builtins.path { path = busybox; name = "busybox-static"; };

  # busybox: bin/busybox plus one symlink per applet, so PATH=${busybox}/bin
  # gives builders a POSIX-ish userland (busybox run under its store name would
  # say "applet not found", hence the symlinks named like the applets).
  busyboxPkg = derivation {
    name = "busybox";
    inherit system;
    builder = "${bbSrc}/bin/sh";
    args = [ "-e" "-c" ''
      bb=${bbSrc}/bin/busybox
      $bb mkdir -p $out/bin
      $bb cp $bb $out/bin/busybox
      for a in $($bb --list); do
        [ "$a" = busybox ] || $bb ln -s busybox $out/bin/$a
      done
    '' ];
  };

  runtimeShell = "${busyboxPkg}/bin/sh";

  # runCommand name env script: runs script with busybox sh (set -e), PATH
  # holding busybox's applets and env.nativeBuildInputs/buildInputs' bin dirs.
  runCommand = name: env: buildCommand:
    let
      inputs = (env.nativeBuildInputs or [ ]) ++ (env.buildInputs or [ ]);
      binPath = builtins.concatStringsSep ":" (map (p: "${p}/bin") (inputs ++ [ busyboxPkg ]));
    in
    derivation (removeAttrs env [ "nativeBuildInputs" "buildInputs" ] // {
      inherit name system buildCommand;
      builder = runtimeShell;
      args = [ "-e" "-c" "eval \"$buildCommand\"" ];
      PATH = binPath;
    });

  writeTextFile =
    { name, text, executable ? false, destination ? "", checkPhase ? "", ... }:
    runCommand name
      {
        inherit text;
        passAsFile = [ "text" ];
        executable = if executable then "1" else "";
        destination = destination;
      }
      ''
        target=$out$destination
        if [ -n "$destination" ]; then mkdir -p "$(dirname "$target")"; fi
        cp "$textPath" "$target"
        if [ -n "$executable" ]; then chmod +x "$target"; fi
        ${checkPhase}
      '';

  writeText = name: text: writeTextFile { inherit name text; };
  writeTextDir = path: text: writeTextFile {
    name = builtins.baseNameOf path;
    inherit text;
    destination = "/${path}";
  };
  writeScript = name: text: writeTextFile { inherit name text; executable = true; };
  writeScriptBin = name: text: writeTextFile {
    inherit name text;
    executable = true;
    destination = "/bin/${name}";
  };
  writeShellScript = name: text: writeTextFile {
    inherit name;
    executable = true;
    text = "#!${runtimeShell}\n${text}";
  };
  writeShellScriptBin = name: text: writeTextFile {
    inherit name;
    executable = true;
    destination = "/bin/${name}";
    text = "#!${runtimeShell}\n${text}";
  };

  symlinkJoin = { name, paths, postBuild ? "", ... }@args:
    runCommand name
      (removeAttrs args [ "name" "paths" "postBuild" ] // { inherit paths; })
      ''
        mkdir -p $out
        for p in $paths; do
          (cd "$p" && find . -mindepth 1 -type d) | while read -r d; do mkdir -p "$out/$d"; done
          (cd "$p" && find . -mindepth 1 ! -type d) | while read -r f; do
            [ -e "$out/$f" ] || [ -L "$out/$f" ] || ln -s "$p/$f" "$out/$f"
          done
        done
        ${postBuild}
      '';

  # linkFarm name [ { name; path; } ] or { name = path; }.
  linkFarm = name: entries:
    let
      list = if builtins.isAttrs entries
        then map (n: { name = n; path = entries.${n}; }) (builtins.attrNames entries)
        else entries;
    in
    runCommand name { } (''
      mkdir -p $out
    '' + builtins.concatStringsSep "" (map (e: ''
      mkdir -p "$(dirname "$out/${e.name}")"
      ln -s ${e.path} "$out/${e.name}"
    '') list));

  # importHostProgram: a host's dynamically linked programs as a store package,
  # without patchelf: the programs and their libraries are copied in, and
  # bin/<program> is a script running the copied loader on the copied program
  # with --library-path. Host files come in with builtins.path (impure by
  # nature: for tests and demos; nixpkgs packages are the real thing).
  # Every file is { name; path; }: name in the package, path a regular file.
  #   programs: [ { name = "redis-server"; path = /usr/bin/redis-check-rdb; } ]
  #   libs: [ { name = "libc.so.6"; path = /lib/x86_64-linux-gnu/libc.so.6; } ... ]
  #   interpreter: { name = "ld-linux-x86-64.so.2"; path = /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2; }
  #   files: other files at their name's path in the package, e.g. a program's
  #     plugins and data laid out as nixpkgs would have them:
  #     [ { name = "modules/mod_dir.so"; path = /usr/lib/apache2/modules/mod_dir.so; } ]
  #     Shared objects among them find their libraries in lib/ when the
  #     program dlopens them (the loader's --library-path holds for dlopen).
  # nixbuild.WriteHostPackages writes such a call from ldd's output.
  importHostProgram = { name, programs, libs, interpreter, files ? [ ] }:
    let
      add = f: builtins.path { path = f.path; name = builtins.replaceStrings [ "+" ] [ "_" ] (baseNameOf f.name); };
      copy = dir: f: "cp ${add f} $out/${dir}/${f.name}\n";
      place = f: "mkdir -p \"$(dirname $out/${f.name})\"\ncp ${add f} $out/${f.name}\n";
      ld = "$out/lib/${interpreter.name}";
    in
    runCommand name { } (''
      mkdir -p $out/bin $out/lib $out/libexec
    '' + builtins.concatStringsSep "" (map (copy "lib") (libs ++ [ interpreter ]))
    + builtins.concatStringsSep "" (map (copy "libexec") programs)
    + builtins.concatStringsSep "" (map place files)
    + ''
      chmod +x ${ld} $out/libexec/*
      for p in $out/libexec/*; do
        n=$(basename $p)
        printf '#!%s\nexec %s --library-path %s %s "$@"\n' ${runtimeShell} ${ld} $out/lib $p > $out/bin/$n
        chmod +x $out/bin/$n
      done
    '');

  base = {
    inherit lib system runtimeShell runCommand writeTextFile writeText writeTextDir
      writeScript writeScriptBin writeShellScript writeShellScriptBin symlinkJoin linkFarm
      importHostProgram;
    busybox = busyboxPkg;
    runCommandLocal = runCommand;
    runCommandNoCC = runCommand;
    bash = busyboxPkg; # ${pkgs.bash}/bin/sh works; there is no real bash offline
    coreutils = busyboxPkg;
    stdenv = { shell = runtimeShell; inherit system; mkDerivation = throw "nd offline pkgs: stdenv.mkDerivation is not available without nixpkgs (pass --nixpkgs)"; };
    # ndOffline lets modules tell the offline pkgs from nixpkgs.
    ndOffline = true;
  };
  self = base // (if extraPkgs == null then { } else extraPkgs self);
in
self
