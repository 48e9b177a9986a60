// The closing account of CI (scripts/test-summary.mjs): a run that skips a test CI must run
// fails, naming it; the skips listed in test/expected-skips.json are counted, with their reason.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { EXPECTED_SKIPS, readExpectedSkips, summarize } from "../../scripts/test-summary.mjs";
import { REPO_ROOT } from "./support.js";

type Status = "passed" | "failed" | "skipped" | "pending" | "todo";

/** A vitest JSON report of one file (absolute name, as vitest writes it). */
function report(file: string, tests: Array<[string, Status]>, fileStatus: "passed" | "failed" = "passed") {
  return {
    numPassedTests: tests.filter(([, s]) => s === "passed").length,
    numFailedTests: tests.filter(([, s]) => s === "failed").length,
    testResults: [
      { name: path.join(REPO_ROOT, file), status: fileStatus, assertionResults: tests.map(([fullName, status]) => ({ fullName, status })) },
    ],
  };
}

const REMOTE = "test/integration/remote.test.ts";
const EXPECTED = [{ file: REMOTE, test: "suite, 'Bazel 7' the example", reason: "the example is WORKSPACE only" }];

describe("the closing account of a CI run", () => {
  it("passes a run whose only skips are the expected ones, counting them on the closing line", () => {
    const r = summarize(report(REMOTE, [["suite, 'Bazel 4' the example", "passed"], ["suite, 'Bazel 7' the example", "skipped"]]), EXPECTED);
    expect(r.ok).toBe(true);
    expect(r.closing).toBe("1 passed, 0 failed, 1 skipped");
    expect(r.lines.join("\n")).toContain("because the example is WORKSPACE only");
  });

  it("fails a run that skipped a test CI must run (a Buildbarn suite of a run that is not root), naming it", () => {
    const r = summarize(
      report(REMOTE, [
        ["suite, 'Bazel 4' fixture packages run on the worker", "skipped"],
        ["suite, 'Bazel 7' the example", "skipped"],
      ]),
      EXPECTED,
    );
    expect(r.ok).toBe(false);
    expect(r.closing).toBe("0 passed, 0 failed, 2 skipped");
    expect(r.lines).toContain(`  ${REMOTE}: suite, 'Bazel 4' fixture packages run on the worker`);
    expect(r.lines.join("\n")).toMatch(/^FAIL: 1 test was skipped that CI must run/m);
  });

  it("fails when an expected skip did not happen: the list must not go stale", () => {
    const r = summarize(report(REMOTE, [["suite, 'Bazel 7' the example", "passed"]]), EXPECTED);
    expect(r.ok).toBe(false);
    expect(r.closing).toBe("1 passed, 0 failed");
    expect(r.lines.join("\n")).toContain("did not happen");
  });

  it("fails a file that failed (a beforeAll that threw), whose skipped tests are not skips to list", () => {
    const r = summarize(report(REMOTE, [["suite, 'Bazel 4' fixture packages run on the worker", "skipped"], ["suite, 'Bazel 7' the example", "skipped"]], "failed"), EXPECTED);
    expect(r.ok).toBe(false);
    expect(r.lines.join("\n")).toContain(`FAIL: 1 test file failed (the tests they skipped are counted as skipped): ${REMOTE}`);
    expect(r.lines.join("\n")).not.toContain("skipped that CI must run");
    expect(r.closing).toBe("0 passed, 0 failed, 2 skipped");
  });

  it("fails a failed test, and keeps the closing line's shape", () => {
    const r = summarize(report(REMOTE, [["a", "passed"], ["b", "failed"], ["suite, 'Bazel 7' the example", "todo"]]), EXPECTED);
    expect(r.ok).toBe(false);
    expect(r.closing).toMatch(/^\d+ passed, \d+ failed(, \d+ skipped)?$/);
    expect(r.closing).toBe("1 passed, 1 failed, 1 skipped");
  });
});

describe("test/expected-skips.json", () => {
  it("gives each skip a file, a test and a reason; each file exists and holds the test's own title", () => {
    const skips = readExpectedSkips(EXPECTED_SKIPS);
    for (const s of skips) {
      const source = fs.readFileSync(path.join(REPO_ROOT, s.file), "utf8");
      // The full name ends with the test's title, as the file writes it.
      const title = s.test.slice(s.test.lastIndexOf("' ") + 2);
      expect(source, `${s.file}: ${title}`).toContain(title);
    }
  });
});
