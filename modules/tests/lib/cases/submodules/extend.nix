# A second module adds an option to every supervisord service and a
# default to an attribute of the submodule declared elsewhere.
{ lib, ... }: {
  options.supervisord.services = lib.mkOption {
    type = lib.types.attrsOf (lib.types.submodule ({ name, config, ... }: {
      options.user = lib.mkOption { type = lib.types.str; default = "svc-${name}"; };
      config.environment.SERVICE = name;
    }));
  };
}
