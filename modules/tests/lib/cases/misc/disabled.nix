{ docker.ports = [ 9999 ]; }
