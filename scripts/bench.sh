#!/bin/sh
# bench.sh prints nd's performance figures side by side with their baselines,
# each table from one run, over a 200 Mbit/s link to simulated droplets with a
# ~500 MB / 200-path closure of real files (compiler, libraries), and the
# request gaps of deploys:
#
#   scripts/bench.sh            every table
#   scripts/bench.sh hoststore  nd-push vs nix-copy-closure and ssh true (droplets with Nix)
#   scripts/bench.sh image      image mode vs docker save | ssh docker load (droplets without Nix)
#   scripts/bench.sh deploy     failed requests and gaps during deploys at 50 req/s: overlap vs recreate
#   scripts/bench.sh fleet      test droplets: modern (systemd) boot, teardown, reboot vs bookworm
#   scripts/bench.sh substitute cold deploy with a binary cache near the droplet vs --no-substitute and
#                               nix-copy-closure --use-substitutes (bookworm and modern droplets; median
#                               of ND_BENCH_ROUNDS=3 runs each, a closure of distinct Debian package files)
#   scripts/bench.sh memory     a 1 GiB path into an agent confined to 256 MiB vs nix-store --import
#
# hoststore and image also print each deploy's stage breakdown (wall and CPU
# seconds per stage, and how the transfer's stages overlap) and the agent's
# idle RSS; docs/BENCHMARKS.md explains the figures.
#
# Needs root, Nix, dockerd, sshd (scripts/setup.sh). These are benchmarks, not
# tests: they print figures and judge nothing.
set -eu
cd "$(dirname "$0")/.."
pkg=./internal/cli
benchtime=1x
case "${1:-all}" in
hoststore) pat=BenchmarkHostStore ;;
image) pat=BenchmarkImageMode ;;
deploy) pat=BenchmarkDeployGaps ;;
fleet) pat=BenchmarkFleet pkg=./internal/fleet benchtime=3x ;;
substitute) pat=BenchmarkSubstitute ;;
memory) pat=BenchmarkMemory ;;
all) pat='BenchmarkHostStore|BenchmarkImageMode|BenchmarkDeployGaps|BenchmarkSubstitute|BenchmarkMemory' ;;
*) echo "usage: scripts/bench.sh [hoststore|image|deploy|fleet|substitute|memory]" >&2; exit 2 ;;
esac
bash scripts/setup.sh >&2
exec go test -run XXX -bench "$pat" -benchtime "$benchtime" -timeout 40m "$pkg"
