#!/usr/bin/env bash
# test.sh is nd's test command (and CI's, via .ci/run): it prepares the machine
# (scripts/setup.sh), vets and builds everything, runs every test against the
# real sshd, dockerd, Nix and namespaces, and fails if the test fleet left
# anything behind (namespaces, links, processes, mounts, state).
#
# CI=true turns every "component missing" skip into a failure
# (ND_TEST_REQUIRE_ALL=1). Extra arguments go to `go test` (e.g. -run X).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }
start=$SECONDS

step "setup"
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null; then
	echo "test.sh: needs Go (go.mod's version) on PATH" >&2
	exit 1
fi
bash scripts/setup.sh

if [ "${CI:-}" = true ]; then
	export ND_TEST_REQUIRE_ALL=1
fi

# nd evaluates every config with nixpkgs' lib; the tests use the snapshot
# beside the repository (never copied into it): ../shared/third_party/
# nixpkgs-lib, found from the repository upwards (worktrees), or
# ND_NIXPKGS_LIB. testutil puts it on NIX_PATH for the test processes.
if [ -z "${ND_NIXPKGS_LIB:-}" ]; then
	d="$(cd .. && pwd)"
	while [ ! -f "$d/shared/third_party/nixpkgs-lib/lib/default.nix" ] && [ "$d" != / ]; do
		d="$(dirname "$d")"
	done
	ND_NIXPKGS_LIB="$d/shared/third_party/nixpkgs-lib"
fi
if [ ! -f "$ND_NIXPKGS_LIB/lib/default.nix" ]; then
	echo "test.sh: needs nixpkgs' lib: ../shared/third_party/nixpkgs-lib beside the repository, or ND_NIXPKGS_LIB" >&2
	exit 1
fi
export ND_NIXPKGS_LIB
echo "nixpkgs lib: $ND_NIXPKGS_LIB" >&2

step "vet and build"
# A vet or build failure fails the run but does not hide the test results.
status=0
unformatted="$(gofmt -l cmd internal modules 2>/dev/null || true)"
if [ -n "$unformatted" ]; then
	printf 'gofmt needed:\n%s\n' "$unformatted" >&2
	status=1
fi
go vet ./... || status=1
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
CGO_ENABLED=0 go build -o "$bin/" ./cmd/... || status=1
# macOS laptops: nd-push (and its commands that need no local Linux build)
# must keep compiling for darwin.
for arch in arm64 amd64; do
	CGO_ENABLED=0 GOOS=darwin GOARCH="$arch" go build -o /dev/null ./cmd/nd-push || status=1
done
# install-agent uploads the agent built for the droplet's architecture.
CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -o /dev/null ./cmd/nd-agent || status=1
[ -x "$bin/nd-fleet" ] || CGO_ENABLED=0 go build -o "$bin/" ./cmd/nd-fleet

# What of the fleet exists before the tests (e.g. someone's `nd-fleet up`
# demo) is not this run's leftover.
before="$("$bin/nd-fleet" leftovers 2>/dev/null || true)"

step "go test"
# -v so that skipped tests are visible; the full log is kept in $log.
log="$(mktemp /tmp/nd-test-XXXXXX.log)"
set +e
timeout --signal=INT --kill-after=60 17m \
	go test ./... -count=1 -timeout 15m -v "$@" 2>&1 | tee "$log" |
	grep -Ev '^(=== (RUN|PAUSE|CONT|NAME)|[[:space:]]*--- PASS)'
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] || status=1

# The deploy core again, on modern droplets (Debian sid booted with systemd,
# Docker 28.5 with the classic image store, Debian's Nix 2.34): tests that
# ask for no droplet kind get modern ones. Only on a full run; ~3 min.
if [ "$#" = 0 ]; then
	step "go test: the deploy core on modern droplets"
	set +e
	ND_FLEET_KIND=modern timeout --signal=INT --kill-after=60 12m \
		go test ./internal/cli -count=1 -timeout 10m -v \
		-run '^(TestPushHostStore|TestPushUpdateKeepsVolumeAndSurvivesBadDeploy|TestPushImageModeNoNix|TestOperate)$' 2>&1 |
		tee -a "$log" | grep -Ev '^(=== (RUN|PAUSE|CONT|NAME)|[[:space:]]*--- PASS)'
	rc=${PIPESTATUS[0]}
	set -e
	[ "$rc" = 0 ] || status=1
fi
# Skips are listed, never counted as passes. A test that skips because a
# component is missing (testutil.Require) already failed under CI; what is
# left are opt-in tests (benchmarks, nixpkgs comparisons).
skipped="$(grep -E '^[[:space:]]*--- SKIP' "$log" || true)"
if [ -n "$skipped" ]; then
	printf '\n%s skipped tests (not passed):\n%s\n' "$(wc -l <<<"$skipped")" "$skipped" >&2
fi
echo "full test log: $log" >&2
# nixpkgs' own module-system suite on the lib nd evaluates with
# (modules/tests/nixpkgslib).
grep -o 'nixpkgs-lib: .*' "$log" | head -2 >&2 || echo "nixpkgs-lib: figure missing (modules/tests/nixpkgslib did not run)" >&2

step "fleet leftovers"
after="$("$bin/nd-fleet" leftovers 2>/dev/null || true)"
new="$(comm -13 <(sort <<<"$before") <(sort <<<"$after") | sed '/^$/d')"
if [ -n "$new" ]; then
	printf 'the tests left fleet leftovers behind:\n%s\n' "$new" >&2
	# Clean up what the dead test processes left; droplets of live
	# processes (someone else's tests) are not touched.
	"$bin/nd-fleet" down --stale >/dev/null 2>&1 || true
	kept="$(sed -n 's|^droplet state /run/nd-fleet/||p' <<<"$new")"
	if [ -n "$kept" ]; then
		"$bin/nd-fleet" down $kept >/dev/null 2>&1 || true
	fi
	status=1
fi

step "done in $((SECONDS - start))s (status $status)"
# One plain closing line with the counts (subtests included); packages that
# did not build count as failures.
count() { grep -cE "$1" "$log" || true; }
printf 'tests: %d passed, %d failed, %d skipped\n' "$(count '^[[:space:]]*--- PASS')" \
	"$(($(count '^[[:space:]]*--- FAIL') + $(count '^FAIL[[:space:]].*\[(build|setup) failed\]')))" \
	"$(count '^[[:space:]]*--- SKIP')"
exit "$status"
