# environment.etc: files under /etc in the container, copied into one store
# directory (manifest.Etc) as real files.
{ config, lib, pkgs, ... }:
with lib;
let
  etcOpts = { name, config, ... }: {
    options = {
      target = mkOption { type = types.str; default = name; description = "Path relative to /etc."; };
      text = mkOption { type = types.nullOr types.lines; default = null; description = "File contents."; };
      source = mkOption { type = types.nullOr types.path; default = null; description = "File to copy (when text is null)."; };
      mode = mkOption { type = types.str; default = "0444"; description = "File mode."; };
    };
  };
  files = attrValues config.environment.etc;
  srcOf = f: if f.text != null then pkgs.writeText (baseNameOf f.target) f.text else f.source;
in
{
  options.environment.etc = mkOption {
    type = types.attrsOf (types.submodule etcOpts);
    default = { };
    description = "Files of the container's /etc.";
  };
  options.nd.etc = mkOption { type = types.package; internal = true; description = "The /etc directory."; };

  config = {
    nd.etc = pkgs.runCommand "nd-etc" { } (''
      mkdir -p $out
    '' + concatMapStrings (f: ''
      mkdir -p "$(dirname "$out/${f.target}")"
      cp -L ${srcOf f} "$out/${f.target}"
      chmod ${f.mode} "$out/${f.target}"
    '') files);
    assertions = map (f: {
      assertion = (f.text == null) != (f.source == null);
      message = "environment.etc.\"${f.target}\": set exactly one of text and source.";
    }) files;
  };
}
