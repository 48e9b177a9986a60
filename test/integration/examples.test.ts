// Every example under examples/ builds and passes its tests as a user would run it: a copy of
// the workspace, .nixstore.bazelrc from `nixgen bazelrc`, then `bazel test //...`, in the
// linux-sandbox and with --spawn_strategy=local.
import { afterAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT, explain } from "./harness.js";

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
    cpSync(join(REPO_ROOT, "examples", example), ws, {
      recursive: true,
      filter: (src) => !/\/(bazel-[^/]*|\.nixstore\.bazelrc)$/.test(src),
    });
    // The example points at rules_nixstore as ../..; the copy points at this checkout.
    const workspace = readFileSync(join(ws, "WORKSPACE"), "utf8");
    expect(workspace).toContain(`path = "../.."`);
    writeFileSync(join(ws, "WORKSPACE"), workspace.replace(`path = "../.."`, `path = ${JSON.stringify(REPO_ROOT)}`));
    const ob = join(root, "ob");
    await execa("node", [join(REPO_ROOT, "dist/generator/cli.js"), "bazelrc", "--workspace", ws, "--output-base", ob]);
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
