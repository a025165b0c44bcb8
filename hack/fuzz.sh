#!/usr/bin/env bash
# Runs every fuzz target in the module for a while each: ./hack/fuzz.sh 30s
# (`make fuzz FUZZTIME=2m`). Crashers land in the package's testdata/fuzz
# directory, where `go test` replays them from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-30s}
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "== $pkg $target ($time)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" "$pkg"
	done
done
