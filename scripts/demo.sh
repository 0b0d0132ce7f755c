#!/usr/bin/env bash
# demo.sh is nd's main job on one machine: it prepares the machine
# (scripts/setup.sh), builds nd, starts a simulated droplet (its own network,
# /nix store, dockerd and sshd), runs nd-agent on it, deploys
# examples/hello with nd-push over SSH, and prints what the app answered.
#
#   scripts/demo.sh [--keep] [--no-nix] [CONFIG]
#
# --keep leaves the droplet running (remove it with: bin/nd-fleet down nd-demo);
# --no-nix makes a droplet without Nix (image mode).
set -euo pipefail
cd "$(dirname "$0")/.."

keep=false
fleetflags=()
config=examples/hello/config.nix
for a in "$@"; do
	case "$a" in
	--keep) keep=true ;;
	--no-nix) fleetflags+=(--no-nix) ;;
	-*) echo "usage: scripts/demo.sh [--keep] [--no-nix] [CONFIG]" >&2; exit 2 ;;
	*) config="$a" ;;
	esac
done

step() { printf '\n== %s\n' "$*" >&2; }

step "setup"
bash scripts/setup.sh

step "build nd into ./bin"
CGO_ENABLED=0 go build -o bin/ ./cmd/...

name=nd-demo
bin/nd-fleet down "$name" >/dev/null 2>&1 || true
step "start droplet $name"
bin/nd-fleet up "${fleetflags[@]}" "$name" >/dev/null
if ! $keep; then
	trap 'step "remove droplet $name"; bin/nd-fleet down "$name" || true' EXIT
fi
addr="$(bin/nd-fleet list | awk -v n="$name" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "ADDR") c = i } $1 == n { print $c }')"
sshconfig="/run/nd-fleet/$name/ssh_config"

step "nd-push install-agent $name ($addr)"
# As on a real droplet, but without systemd (the simulated droplet has none)
# and outside /usr/local, which the droplet shares with this machine.
agent=/var/lib/nd/bin/nd-agent
bin/nd-push install-agent -F "$sshconfig" --no-systemd --dest "$agent" "$name"

step "nd-push $name $config"
# nd evaluates with nixpkgs' lib: the user's NIX_PATH, else the snapshot
# beside the repository (../shared/third_party/nixpkgs-lib, or ND_NIXPKGS_LIB).
if ! [[ ":${NIX_PATH:-}" == *:nixpkgs=* ]]; then
	nplib="${ND_NIXPKGS_LIB:-$(cd .. && pwd)/shared/third_party/nixpkgs-lib}"
	if [ ! -f "$nplib/lib/default.nix" ]; then
		echo "demo.sh: needs nixpkgs' lib: put nixpkgs=DIR on NIX_PATH or set ND_NIXPKGS_LIB (a nixpkgs.lib checkout)" >&2
		exit 1
	fi
	export NIX_PATH="nixpkgs=$nplib${NIX_PATH:+:$NIX_PATH}"
fi
bin/nd-push -F "$sshconfig" --agent-path "$agent" "$name" "$config"

# The app's first host port: the agent routes it (label nd.ports,
# "HOSTIP:HOST:CONTAINER/PROTO,..."), or Docker publishes it.
port="$(bin/nd-fleet exec "$name" -- docker -H unix:///run/docker.sock ps --filter label=nd.app \
	--format '{{.Label "nd.ports"}} {{.Ports}}' | head -1 |
	sed -n -e 's/^[^: ]*:\([0-9][0-9]*\):.*/\1/p' -e 't' -e 's/.*:\([0-9][0-9]*\)->.*/\1/p')"
step "the app at http://$addr:${port:-8080}/ answered:"
for _ in $(seq 50); do
	# Plain HTTP/1.0 through bash's /dev/tcp: no HTTP client needed.
	if reply="$(exec 3<>"/dev/tcp/$addr/${port:-8080}" &&
		printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$addr" >&3 && timeout 5 cat <&3)" &&
		[[ "$reply" == "HTTP/1."?" 200"* ]]; then
		printf '%s\n' "${reply#*$'\r\n\r\n'}"
		exit 0
	fi
	sleep 0.2
done
echo "no answer from http://$addr:${port:-8080}/" >&2
exit 1
