#!/usr/bin/env bash
# The project's test command (README, .ci/run). Fetches test data, builds, runs the tests, and ends with
# one line "N passed, N failed". Options:
#   --slow        run only the slow checks (tests with [Trait("Category","Slow")])
#   --all         run everything
#   (default)     everything except the slow checks: under 20 minutes on 2 cores
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
filter="Category!=Slow"
label="default"
case "${1:-}" in
  --slow) filter="Category=Slow"; label="slow" ;;
  --all) filter=""; label="all" ;;
  "") ;;
  *) echo "usage: tests/run.sh [--slow|--all]" >&2; exit 2 ;;
esac

bash tests/data/fetch.sh || { echo "tests/run.sh: test data could not be fetched"; echo "0 passed, 1 failed"; exit 1; }

results="$root/artifacts/test-results/$label"
rm -rf "$results"; mkdir -p "$results"
args=(test ArchNet.sln -c Release --logger "trx" --results-directory "$results" -nologo)
[[ -n "$filter" ]] && args+=(--filter "$filter")
echo "tests/run.sh: dotnet ${args[*]}"
dotnet "${args[@]}"
rc=$?

passed=0; failed=0
shopt -s nullglob
for trx in "$results"/*.trx; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters"); f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done
# A build break or a crashed test host leaves dotnet non-zero with no failure counted: count it as one.
if [[ $rc -ne 0 && $failed -eq 0 ]]; then failed=1; echo "tests/run.sh: dotnet test exited $rc (build error or test host crash)"; fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
