// The Starlark unit tests of test/starlark (bazel-skylib's unittest): the pure helpers that decide
// what a package repository may hold and how the launcher reads its data (the closure planner,
// the evaluation grouping, the launcher data's escaping, the machine cache's location rule and
// repairs), run by `bazel test //...` on both machines: Bazel 4.2.3 reads test/starlark/WORKSPACE,
// Bazel 7.7.1 its MODULE.bazel. Each finishes in seconds once Bazel's server is up.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEBIAN_RULES_JAVA } from "../../generator/bazelrc.js";
import { FLAVORS, REPO_ROOT, explain } from "./harness.js";

const WORKSPACE = join(REPO_ROOT, "test/starlark");
const OFFLINE = join(REPO_ROOT, "third_party/offline");

/** The suites test/starlark/BUILD.bazel declares, one per helper module. */
const SUITES = ["evaluation", "launch_data", "layout", "machine_cache"];

describe.each(FLAVORS)("Starlark unit tests of the rules' pure helpers, $title", (flavor) => {
  let root = "";
  const bazel = (args: string[]) =>
    execa(flavor.bazel, [`--output_base=${join(root, "ob")}`, "--max_idle_secs=60", ...args], {
      cwd: WORKSPACE,
      reject: false,
      all: true,
      stdin: "ignore",
    });
  // No bazel-* links in the source tree; Bazel 4.2.3 also needs the offline stand-ins that
  // `nixgen bazelrc` would give it (it downloads @rules_cc and @remote_coverage_tools for tests).
  const flags = [
    "--symlink_prefix=/",
    ...(flavor.bzlmod
      ? []
      : [
          `--override_repository=rules_cc=${OFFLINE}/rules_cc`,
          `--override_repository=remote_coverage_tools=${OFFLINE}/remote_coverage_tools`,
          `--override_repository=rules_java=${DEBIAN_RULES_JAVA}`,
        ]),
  ];

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), `nixstore-starlark-${flavor.id}-`));
  });

  afterAll(async () => {
    if (!root) return;
    await bazel(["shutdown"]);
    await execa("chmod", ["-R", "u+w", root], { reject: false });
    await execa("rm", ["-rf", root], { reject: false });
  });

  test("every test of every suite runs and passes", async () => {
    const query = await bazel(["query", ...flags.filter((f) => f.startsWith("--override")), "tests(//...)"]);
    expect(query.exitCode, explain(query)).toBe(0);
    const targets = String(query.stdout).split("\n").filter(Boolean).sort();
    for (const suite of SUITES) {
      expect(targets.filter((t) => t.startsWith(`//:${suite}_`)).length, `tests of ${suite}`).toBeGreaterThanOrEqual(5);
    }

    const started = Date.now();
    const result = await bazel(["test", ...flags, "--test_output=errors", "//..."]);
    expect(result.exitCode, explain(result)).toBe(0);
    const out = String(result.all);
    for (const target of targets) expect(out, target).toMatch(new RegExp(`^${target.replace(/[/:]/g, "\\$&")}\\s+PASSED`, "m"));
    expect(out).toContain(`Executed ${targets.length} out of ${targets.length} tests: ${targets.length} tests pass.`);
    expect(Date.now() - started, "seconds, not minutes").toBeLessThan(120_000);
  });

  test("a broken helper fails its tests: the planner that lets a link into a store path outside the closure", async () => {
    // A copy of rules_nixstore whose planner forgets that a store path must be in the closure.
    const copy = join(root, "rules_nixstore");
    for (const f of ["MODULE.bazel", "WORKSPACE", "rules"]) cpSync(join(REPO_ROOT, f), join(copy, f), { recursive: true });
    const layout = join(copy, "rules/private/layout.bzl");
    const source = readFileSync(layout, "utf8");
    const check = "if len(done) == 3 and part not in closure:";
    expect(source).toContain(check);
    writeFileSync(layout, source.replace(check, "if False:"));

    const override = flavor.bzlmod ? `--override_module=rules_nixstore=${copy}` : `--override_repository=rules_nixstore=${copy}`;
    const result = await bazel(["test", ...flags, override, "//:layout"]);
    expect(result.exitCode, explain(result)).toBe(3); // some tests failed
    expect(String(result.all)).toMatch(/^\/\/:layout_link_to_a_store_path_outside_the_closure_escapes\s+FAILED/m);
  });
});
