// Every example under examples/ builds and passes its tests as a user would run it: a copy of
// the workspace, .nixstore.bazelrc from `nixgen bazelrc`, then `bazel test //...`, in the
// linux-sandbox and with --spawn_strategy=local.
import { afterAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT, copyExample, explain, nixgenBazelrc } from "./harness.js";

const EXAMPLES = ["local-sandbox"];
const roots: string[] = [];

afterAll(async () => {
  for (const root of roots) {
    await execa("bazel", [`--output_base=${join(root, "ob")}`, "shutdown"], { cwd: join(root, "ws"), reject: false });
    await execa("rm", ["-rf", root], { reject: false });
  }
});

describe.each(EXAMPLES)("examples/%s", (example) => {
  test("bazel test //... passes in the linux-sandbox and with --spawn_strategy=local", async () => {
    const root = mkdtempSync(join(tmpdir(), `nixstore-example-${example}-`));
    roots.push(root);
    const ws = join(root, "ws");
    // Points the copy's local_repository of rules_nixstore (../..) at this checkout.
    copyExample(example, ws);
    expect(readFileSync(join(ws, "WORKSPACE"), "utf8")).toContain(`path = ${JSON.stringify(REPO_ROOT)}`);
    const ob = join(root, "ob");
    await nixgenBazelrc(ws, ob);
    expect(readdirSync(ws)).toContain(".nixstore.bazelrc");
    for (const strategy of ["linux-sandbox", "local"]) {
      await execa("bazel", [`--output_base=${ob}`, "clean"], { cwd: ws, reject: false });
      const r = await execa("bazel", [`--output_base=${ob}`, "test", `--spawn_strategy=${strategy}`, "//..."], {
        cwd: ws,
        reject: false,
        all: true,
      });
      expect(r.exitCode, `${strategy}: ${explain(r)}`).toBe(0);
      expect(r.all).toMatch(/Executed \d+ out of \d+ tests?: \d+ tests? pass/);
    }
    expect(existsSync(join(ws, "bazel-bin"))).toBe(true);
  });
});
