{ lib, ... }: {
  imports = [ ./opt.nix { once = 2; } ];
  once = 1;
}
