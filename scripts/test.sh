#!/usr/bin/env bash
# Sets up this machine, then runs every check: generated files fresh (nixgen --check),
# Starlark lint (buildifier), shellcheck, the type check of test/ and bench/, and the vitest
# suites: unit, the Starlark unit tests of the rules' helpers (test/starlark) on both Bazels, and
# integration against real Bazel 4.2.3 + Nix 2.8 and Bazel 7.7.1 + Nix 2.34, the latter in the
# Debian sid root of scripts/sid, created here on first use. Prints the time each machine's
# suites took, the skipped tests, then "N passed, N failed[, N skipped]" as its closing line.
# Fails when a test fails or is skipped without being listed, with its reason, in
# test/expected-skips.json (scripts/test-summary.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== nixgen --check (rules/private and every examples/*/nixstore)"
node dist/generator/cli.js --check
echo "== buildifier --lint=warn"
npx --no-install buildifier --lint=warn --mode=check -r rules examples e2e third_party test/fixtures test/starlark
echo "== shellcheck"
bash scripts/lint-shell.sh
echo "== tsc --noEmit (test/ and bench/)"
npx --no-install tsc -p tsconfig.test.json
echo "== the Debian sid root of Bazel 7.7.1 + Nix 2.34 (scripts/sid: created once, then cached)"
start=$SECONDS
bash scripts/sid true
echo "sid root ready after $((SECONDS - start)) s"
echo "== vitest"
report=$(mktemp)
status=0
npx --no-install vitest run --reporter=default --reporter=./test/support/flavor-times.ts --reporter=json \
  --outputFile.json="$report" || status=$?
node scripts/test-summary.mjs "$report" || status=1
rm -f "$report"
exit "$status"
