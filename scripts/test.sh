#!/usr/bin/env bash
# Sets up this machine, then runs every check: generated files fresh (nixgen --check),
# Starlark lint (buildifier), and the vitest suites (unit, and integration against real
# Bazel 4.2.3 + Nix 2.8 and Bazel 7.7.1 + Nix 2.34, the latter in the Debian sid root of
# scripts/sid, created here on first use). Prints the time each machine's suites took, then
# "N passed, N failed" as its closing line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== nixgen --check (rules/private and every examples/*/nixstore)"
node dist/generator/cli.js --check
echo "== buildifier --lint=warn"
npx --no-install buildifier --lint=warn --mode=check -r rules examples e2e third_party test/fixtures
echo "== the Debian sid root of Bazel 7.7.1 + Nix 2.34 (scripts/sid: created once, then cached)"
start=$SECONDS
bash scripts/sid true
echo "sid root ready after $((SECONDS - start)) s"
echo "== vitest"
report=$(mktemp)
status=0
npx --no-install vitest run --reporter=default --reporter=./test/support/flavor-times.ts --reporter=json \
  --outputFile.json="$report" || status=$?
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
