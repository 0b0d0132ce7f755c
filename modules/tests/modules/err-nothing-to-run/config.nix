{ ... }: { docker.ports = [ 80 ]; }
