#!/bin/sh
# Image mode vs `docker save | ssh host docker load` over a 200 Mbit/s link to
# simulated droplets without Nix (a ~500 MB / 200-path closure): prints one
# table with both columns and their ratio. Needs root, Nix, dockerd, sshd
# (scripts/setup.sh). See BenchmarkImageMode in internal/cli.
set -eu
cd "$(dirname "$0")/.."
exec go test -run XXX -bench BenchmarkImageMode -benchtime 1x -timeout 30m ./internal/cli "$@"
