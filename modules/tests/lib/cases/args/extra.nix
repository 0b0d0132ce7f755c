{ config, lib, greeting, ... }: {
  _file = "virtual/extra-module.nix";
  options.extra.message = lib.mkOption { type = lib.types.str; };
  config = {
    extra.message = "${greeting} ${config.app.name}";
    docker.env.FROM = "extra";
  };
}
