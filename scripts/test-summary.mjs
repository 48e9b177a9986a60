// @ts-check
// The closing account of a CI run (scripts/test.sh): reads vitest's JSON report and the skips CI
// expects (test/expected-skips.json, each with its reason), prints what was skipped and why, then
// "N passed, N failed[, N skipped]" alone as the last line, and exits 1 when a test was skipped
// that is not expected to be (a Buildbarn suite of a run that is not root, a Bazel left out by
// NIXSTORE_TEST_BAZEL, a missing /nix/store), when an expected skip did not happen (the list is
// stale), or when a test or a test file failed.
//
//   node scripts/test-summary.mjs REPORT.json [EXPECTED-SKIPS.json]
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const EXPECTED_SKIPS = join(REPO_ROOT, "test/expected-skips.json");

/**
 * @typedef {{ fullName: string, status: string }} Assertion
 * @typedef {{ name: string, status: string, assertionResults: Assertion[] }} FileResult
 * @typedef {{ numPassedTests: number, numFailedTests: number, testResults: FileResult[] }} Report
 * @typedef {{ file: string, test: string, reason: string }} ExpectedSkip
 */

/** Statuses of a test that did not run (vitest's JSON reporter, Jest's names). */
const NOT_RUN = new Set(["skipped", "pending", "todo", "disabled"]);

/**
 * Reads and checks the list of expected skips.
 * @param {string} path
 * @returns {ExpectedSkip[]}
 */
export function readExpectedSkips(path) {
  const data = JSON.parse(readFileSync(path, "utf8"));
  const skips = data?.skips;
  if (!Array.isArray(skips)) throw new Error(`${path}: expected {"skips": [{"file", "test", "reason"}, ...]}`);
  for (const [i, s] of skips.entries()) {
    for (const key of ["file", "test", "reason"]) {
      if (typeof s?.[key] !== "string" || s[key].trim() === "") throw new Error(`${path}: skips[${i}] needs a non-empty "${key}"`);
    }
  }
  return skips;
}

/**
 * The account of a run.
 * @param {Report} report vitest's JSON report.
 * @param {ExpectedSkip[]} expected the skips CI expects.
 * @param {string} root the directory the report's file names are relative to in `expected`.
 * @returns {{ lines: string[], closing: string, ok: boolean }}
 */
export function summarize(report, expected, root = REPO_ROOT) {
  const key = (/** @type {string} */ file, /** @type {string} */ test) => `${file}: ${test}`;
  const wanted = new Set(expected.map((s) => key(s.file, s.test)));
  /** Keys of the tests that did not run. */
  const notRun = new Set();
  /** @type {string[]} */
  const unexpected = [];
  /** @type {string[]} */
  const brokenFiles = [];
  for (const file of report.testResults) {
    const name = relative(root, file.name);
    // A file whose collection or beforeAll fails skips its tests: a failure, not a skip.
    if (file.status === "failed") brokenFiles.push(name);
    for (const test of file.assertionResults) {
      if (!NOT_RUN.has(test.status)) continue;
      const k = key(name, test.fullName);
      notRun.add(k);
      if (!wanted.has(k) && file.status !== "failed") unexpected.push(k);
    }
  }
  const happened = expected.filter((s) => notRun.has(key(s.file, s.test)));
  const stale = expected.filter((s) => !notRun.has(key(s.file, s.test)));
  const lines = [];
  if (happened.length) {
    lines.push(`${happened.length} skipped as expected (test/expected-skips.json):`);
    for (const s of happened) lines.push(`  ${key(s.file, s.test)}`, `    because ${s.reason}`);
  }
  if (unexpected.length) {
    lines.push(`FAIL: ${unexpected.length} test${unexpected.length === 1 ? " was" : "s were"} skipped that CI must run (not in test/expected-skips.json):`);
    for (const u of unexpected) lines.push(`  ${u}`);
    lines.push("  Run them as CI does (as root, both Bazels, /nix/store present: scripts/setup.sh), or list the skip there with its reason.");
  }
  if (stale.length) {
    lines.push(`FAIL: ${stale.length} expected skip${stale.length === 1 ? "" : "s"} of test/expected-skips.json did not happen (the test ran, or no longer exists): remove or correct ${stale.length === 1 ? "it" : "them"}:`);
    for (const s of stale) lines.push(`  ${key(s.file, s.test)}`);
  }
  if (brokenFiles.length) {
    lines.push(`FAIL: ${brokenFiles.length} test file${brokenFiles.length === 1 ? "" : "s"} failed (the tests they skipped are counted as skipped): ${brokenFiles.join(", ")}`);
  }
  const closing = `${report.numPassedTests} passed, ${report.numFailedTests} failed` + (notRunCount(report) ? `, ${notRunCount(report)} skipped` : "");
  const ok = report.numFailedTests === 0 && brokenFiles.length === 0 && unexpected.length === 0 && stale.length === 0;
  return { lines, closing, ok };
}

/**
 * How many tests did not run (skipped, todo).
 * @param {Report} report
 */
function notRunCount(report) {
  return report.testResults.reduce((n, f) => n + f.assertionResults.filter((t) => NOT_RUN.has(t.status)).length, 0);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [reportPath, expectedPath = EXPECTED_SKIPS] = process.argv.slice(2);
  if (!reportPath) {
    console.error("usage: node scripts/test-summary.mjs REPORT.json [EXPECTED-SKIPS.json]");
    process.exit(2);
  }
  const { lines, closing, ok } = summarize(JSON.parse(readFileSync(reportPath, "utf8")), readExpectedSkips(expectedPath));
  for (const line of lines) console.log(line);
  console.log(closing);
  process.exit(ok ? 0 : 1);
}
