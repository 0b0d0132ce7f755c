# nd as a flake. A user's flake:
#
#   inputs.nd.url = "github:nd-project/nd";
#   inputs.nd.inputs.nixpkgs.follows = "nixpkgs";   # optional: your nixpkgs for nd's programs
#   outputs = { nd, nixpkgs, ... }: {
#     ndConfigurations.web = nd.lib.ndConfiguration {
#       pkgs = nixpkgs.legacyPackages.x86_64-linux;  # or nd.legacyPackages.x86_64-linux (offline)
#       modules = [ ./config.nix ];
#     };
#   };
#
# and deploys with `nd-push HOST .#web` (or builds with `nd-push build .#web`).
{
  description = "nd: deploy Nix-built apps to plain Docker hosts over SSH";

  inputs = {
    # nixpkgs' lib, which evaluates nd's modules when pkgs brings no lib of
    # its own (nd's offline pkgs).
    nixpkgs-lib.url = "github:nix-community/nixpkgs.lib";
    # Only nd's programs (packages.<system>) are built with it; nothing
    # else reads it, so pointing it at your nixpkgs costs nothing.
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
  };

  outputs = { self, nixpkgs-lib, nixpkgs }:
    let
      lib = nixpkgs-lib.lib;
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAllSystems = f: lib.genAttrs systems f;

      # nd's offline pkgs need a static busybox, which pure evaluation cannot
      # take from the host: nd-push supplies its own when it builds.
      offlinePkgs = system: import ./modules/pkgs {
        inherit lib system;
        busybox = throw "nd's offline pkgs (nd.legacyPackages) need a static busybox: build with `nd-push build FLAKE#NAME`, which supplies one, or pass nixpkgs' pkgs";
      };

      # nd-push, nd-agent and nd-init (static, as the containers need).
      # vendorHash is checked against `go mod vendor` by
      # internal/nixbuild's TestFlakeVendorHash.
      programs = pkgs: pkgs.buildGoModule {
        pname = "nd";
        version = "0.1";
        src = lib.cleanSource ./.;
        vendorHash = "sha256-XL/VEDF+JhT9o9jnhjBKGYJwzTqgxM8mewz9MfmImtw=";
        subPackages = [ "cmd/nd-push" "cmd/nd-agent" "cmd/nd-init" ];
        env.CGO_ENABLED = "0";
        doCheck = false; # the tests need root, sshd, dockerd and Nix
      };
    in
    {
      lib = {
        # ndConfiguration { pkgs, modules, specialArgs ? {} } evaluates nd's
        # modules with modules (config.nix files or inline modules) and
        # returns { package, config, options, manifest, pkgs, extendModules };
        # package is the deploy package. The lib is pkgs.lib (nixpkgs'
        # pkgs) or nd's nixpkgs-lib input. nd.init is nd-init from
        # packages.<system> unless nd-push supplies its own (it does).
        ndConfiguration = { pkgs, modules, specialArgs ? { } }:
          let system = pkgs.stdenv.hostPlatform.system or pkgs.system;
          in import ./modules/eval.nix {
            lib = pkgs.lib or lib;
            inherit pkgs specialArgs;
            modules = [
              ({ lib, ... }: { nd.init = lib.mkOptionDefault self.packages.${system}.nd-init; })
            ] ++ modules;
          };

        # programs pkgs: nd's programs built with that nixpkgs.
        inherit programs;
      };

      # nd's offline pkgs: writeText, runCommand, symlinkJoin, busybox, ...
      legacyPackages = forAllSystems offlinePkgs;

      packages = forAllSystems (system:
        let nd = programs nixpkgs.legacyPackages.${system};
        in { default = nd; inherit nd; nd-init = nd; });
    };
}
