#!/bin/bash
# make bench: every component's side-by-side benchmark (bench/*/run.sh), each
# given the build dir. Results are printed and summarised in docs/benchmarks.md.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
status=0
for b in bench/*/run.sh; do
	echo "=== ${b%/run.sh}"
	bash "$b" "$build" || status=1
done
exit $status
