#!/usr/bin/env bash
# Sets everything up (tools/scripts/setup.sh) and runs the whole test suite: strict typecheck,
# lint, then every package's tests (unit, driver conformance against real etcd and ZooKeeper,
# PostgreSQL, end to end). Prints a closing line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."

bash tools/scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

report=$(mktemp -d)/vitest.json
checks_passed=0
checks_failed=0
run_check() {
  local name=$1; shift
  echo "== $name"
  if "$@"; then checks_passed=$((checks_passed + 1)); else checks_failed=$((checks_failed + 1)); echo "== $name FAILED"; fi
}
run_check typecheck pnpm run --silent typecheck
run_check lint pnpm run --silent lint

echo "== tests"
pnpm exec vitest run --config vitest.workspace.ts --reporter=default --reporter=json --outputFile.json="$report" "$@"
vitest_status=$?

node tools/scripts/summarize.mjs "$report" "$checks_passed" "$checks_failed" "$vitest_status"
