# The hello app as a flake: ndConfigurations.hello, built by nd's
# lib.ndConfiguration with nd's offline pkgs (so it builds without nixpkgs).
#   nd-push build ./examples/flake#hello
#   nd-push HOST ./examples/flake#hello
# With nixpkgs: add inputs.nixpkgs, say pkgs = nixpkgs.legacyPackages.x86_64-linux,
# and inputs.nd.inputs.nixpkgs.follows = "nixpkgs".
{
  inputs.nd.url = "github:nd-project/nd";

  outputs = { self, nd }: {
    ndConfigurations.hello = nd.lib.ndConfiguration {
      pkgs = nd.legacyPackages.x86_64-linux;
      modules = [ ./app.nix ];
    };
  };
}
