pkgs: {
  nodejs = pkgs.writeShellScriptBin "node" "exec sleep 1000";
  redis = pkgs.symlinkJoin {
    name = "redis";
    paths = [ (pkgs.writeShellScriptBin "redis-server" "exec sleep 1000") (pkgs.writeShellScriptBin "redis-cli" "echo PONG") ];
  };
}
