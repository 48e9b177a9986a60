#!/usr/bin/env bash
# Sets up this machine, then runs every check: generated files fresh (nixgen --check),
# Starlark lint (buildifier), and the vitest suites (unit, and integration against real
# Bazel 4.2.3 and Nix 2.8). Prints "N passed, N failed" as its closing line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== nixgen --check (rules/private and every examples/*/nixstore)"
node dist/generator/cli.js --check
echo "== buildifier --lint=warn"
npx --no-install buildifier --lint=warn --mode=check -r rules examples e2e third_party test/fixtures
echo "== vitest"
report=$(mktemp)
status=0
npx --no-install vitest run --reporter=default --reporter=json --outputFile="$report" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  // A file whose beforeAll fails skips its tests: count it, or "0 failed" would hide it.
  const broken = r.testResults.filter((f) => f.status === "failed").length;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : "") +
    (broken ? ` (${broken} test file${broken === 1 ? "" : "s"} failed)` : ""));
' "$report" || true
rm -f "$report"
exit "$status"
