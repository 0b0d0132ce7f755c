# nix-docker's supervisord style: two processes sharing a volume.
#   worker  counts seconds into /var/lib/counter/count (kept across redeploys)
#   web     busybox httpd; GET /cgi-bin/count answers "count N"
{ config, pkgs, ... }:
let
  cgi = pkgs.runCommand "counter-www" { } ''
    mkdir -p $out/cgi-bin
    cat > $out/cgi-bin/count <<EOF
    #!${pkgs.runtimeShell}
    echo "Content-Type: text/plain"
    echo
    echo "count \$(cat /var/lib/counter/count 2>/dev/null || echo 0)"
    EOF
    chmod +x $out/cgi-bin/count
    echo 'see /cgi-bin/count' > $out/index.html
  '';
  worker = pkgs.writeShellScript "counter-worker" ''
    n=$(cat /var/lib/counter/count 2>/dev/null || echo 0)
    while true; do
      n=$((n + 1))
      echo $n > /var/lib/counter/count.tmp && mv /var/lib/counter/count.tmp /var/lib/counter/count
      sleep 1
    done
  '';
in
{
  users.users.counter = { uid = 1000; home = "/var/lib/counter"; };

  supervisord.services = {
    # The volume starts out root-owned; hand it to the worker first
    # (oneshot: nd's extension, runs to completion before the others).
    setup = {
      command = "${pkgs.busybox}/bin/busybox chown counter:counter /var/lib/counter";
      oneshot = true;
    };
    worker = {
      command = "${worker}";
      user = "counter";
      directory = "/var/lib/counter";
      environment.PATH = "${pkgs.busybox}/bin";
    };
    web = {
      command = "${pkgs.busybox}/bin/busybox httpd -f -p 8081 -h ${cgi}";
      user = "nobody";
    };
  };

  docker.ports = [ "8081:8081" ];
  docker.volumes = [ "/var/lib/counter" ];
  docker.healthcheck = { http = { port = 8081; path = "/cgi-bin/count"; }; interval = 2; };
}
