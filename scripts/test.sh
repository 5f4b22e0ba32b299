#!/usr/bin/env bash
# herd's whole test suite, from nothing: installs what it needs (scripts/setup.sh), then
# type-checks, runs every jest test (constructs, config, cfn-lint, Lambda handlers, deploy
# scenarios, instance scripts, the example app) and prints the scenario table.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

printf '\033[1m==> %s\033[0m\n' "type check (tsc --noEmit)"
npx tsc -p tsconfig.json --noEmit

printf '\033[1m==> %s\033[0m\n' "jest"
# Two workers: the machine has 2 cores, and several suites start local servers.
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
status=0
npx jest --ci --maxWorkers=2 --json --outputFile="$results" "$@" || status=$?
# One plain closing line for any reader of the log: "jest: N passed, N failed".
# shellcheck disable=SC2016  # JavaScript template literal, not shell expansion
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed`)' "$results" 2>/dev/null || true
exit "$status"
