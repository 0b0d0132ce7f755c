# Module arguments: specialArgs (usable in imports), _module.args (pkgs),
# options, the explicit config/options form, `_file` and `key`.
{ config, lib, pkgs, options, ndRoot, ... }: {
  imports = [ (ndRoot + "/common/options.nix") ./extra.nix ];
  _module.args.greeting = "hi";
  app.name = pkgs.appName;
  docker.env.DECLARED_IN = baseNameOf (builtins.head options.docker.env.declarations);
}
