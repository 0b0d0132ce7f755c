# Option types shared by nd's modules (a helper, not a module):
#   import ./nd-types.nix lib
lib:
with lib;
{
  # An environment variable's value: a string, or a package / path, which
  # becomes its store path (a path is copied into the store).
  envValue = types.coercedTo (types.either types.package types.path) (v: "${v}") types.str;
}
