# The modules every nd configuration is evaluated with.
[
  ./assertions.nix
  ./docker.nix
  ./supervisord.nix
  ./systemd.nix
  ./users.nix
  ./etc.nix
  ./redis.nix
  ./httpd.nix
  ./package.nix
]
