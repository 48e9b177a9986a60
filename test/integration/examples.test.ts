// Every example under examples/ builds and passes its tests as a user would run it: a copy of
// the workspace, .nixstore.bazelrc from `nixgen bazelrc`, then `bazel test //...` in the
// linux-sandbox with the mount pair, without it, and with --spawn_strategy=local. The WORKSPACE
// example runs on Bazel 4.2.3, the bzlmod one on Bazel 7.7.1. examples/binary-cache runs its own
// demo.sh on both: the cache made and served locally, the lock written against it, and the build
// on a PATH without Nix.
import { afterAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BAZEL4, BAZEL7, FLAVORS, NIXGEN, REPO_ROOT, copyExample, explain, hasMountTarget, nixgenBazelrc, type Flavor } from "./harness.js";

/** The examples and the Bazel each runs on; `both` ones have a WORKSPACE besides MODULE.bazel. */
const EXAMPLES: { example: string; flavor: Flavor; both?: boolean }[] = [
  { example: "local-sandbox", flavor: BAZEL4 },
  { example: "bzlmod", flavor: BAZEL7 },
  { example: "cc-toolchain", flavor: BAZEL4, both: true },
  { example: "cc-toolchain", flavor: BAZEL7, both: true },
].filter((e) => FLAVORS.includes(e.flavor));
const roots: { root: string; flavor: Flavor }[] = [];

afterAll(async () => {
  for (const { root, flavor } of roots) {
    await execa(flavor.bazel, [`--output_base=${join(root, "ob")}`, "shutdown"], { cwd: join(root, "ws"), reject: false });
    await execa("rm", ["-rf", root], { reject: false });
  }
});

describe.each(EXAMPLES)("examples/$example", ({ example, flavor, both }) => {
  test(`bazel test //... passes on ${flavor.title}: linux-sandbox with and without the mount pair, and local`, async () => {
    const root = mkdtempSync(join(tmpdir(), `nixstore-example-${example}-`));
    roots.push({ root, flavor });
    const ws = join(root, "ws");
    const ob = join(root, "ob");
    // Points the copy's reference to rules_nixstore (../..) at this checkout.
    copyExample(example, ws);
    const refers = readFileSync(join(ws, flavor.bzlmod ? "MODULE.bazel" : "WORKSPACE"), "utf8");
    expect(refers).toContain(`path = ${JSON.stringify(REPO_ROOT)}`);
    if (flavor.bzlmod) expect(existsSync(join(ws, "WORKSPACE"))).toBe(Boolean(both));
    const bazel = (args: string[]) => execa(flavor.bazel, [`--output_base=${ob}`, ...args], { cwd: ws, reject: false, all: true });
    const modes = [
      ...(hasMountTarget(flavor) ? [{ name: "linux-sandbox with the mount pair", pair: true, strategy: "linux-sandbox" }] : []),
      { name: "linux-sandbox without the mount pair", pair: false, strategy: "linux-sandbox" },
      { name: "local", pair: false, strategy: "local" },
    ];
    for (const mode of modes) {
      await nixgenBazelrc(ws, ob, mode.pair ? [] : ["--mount-target", join(root, "no-such-mount-target")], flavor);
      expect(readdirSync(ws)).toContain(".nixstore.bazelrc");
      expect(/^build --sandbox_add_mount_pair=/m.test(readFileSync(join(ws, ".nixstore.bazelrc"), "utf8")), mode.name).toBe(mode.pair);
      await bazel(["clean"]);
      const r = await bazel(["test", `--spawn_strategy=${mode.strategy}`, "//..."]);
      expect(r.exitCode, `${mode.name}: ${explain(r)}`).toBe(0);
      expect(r.all).toMatch(/Executed \d+ out of \d+ tests?: \d+ tests? pass/);
    }
    expect(existsSync(join(ws, "bazel-bin"))).toBe(true);
  });
});

describe.each(FLAVORS)("examples/binary-cache, $title", (flavor) => {
  test("demo.sh makes and serves a signed cache, locks against it, and builds and tests on a PATH without Nix", async () => {
    const root = mkdtempSync(join(tmpdir(), "nixstore-example-binary-cache-"));
    roots.push({ root, flavor });
    const ws = join(root, "ws");
    const ob = join(root, "ob");
    copyExample("binary-cache", ws);
    // As a user runs it, on the machine's own Bazel, Nix and Python (Bazel 7's in the sid root).
    const [cmd, args] = flavor.command(["env", "BAZEL=bazel", `NIXGEN=${NIXGEN}`, `OUTPUT_BASE=${ob}`, "bash", join(ws, "demo.sh")]);
    const r = await execa(cmd, args, { cwd: ws, reject: false, all: true, stdin: "ignore" });
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.all).toMatch(/== 3\. nixgen lock[^\n]*\n(.*\n)*5 NARs recorded in nixstore\.lock\.json/);
    expect(r.all).toMatch(/Executed 1 out of 1 test: 1 test passes/);
    expect(String(r.all), explain(r)).toMatch(/hello from nix\ngreet from nix from a binary cache$/);
    // After clean --expunge, the packages came from the cache alone: no Nix store was made in the
    // output base, the downloaded store paths are there.
    expect(existsSync(join(ob, "nixstore/nix/var/nix/db"))).toBe(false);
    expect(readdirSync(join(ob, "nixstore-downloaded/nix/store")).length).toBe(5);
    // demo.sh leaves the example as committed: no lock, nixstore/ as generated without it.
    expect(existsSync(join(ws, "nixstore.lock.json"))).toBe(false);
    expect(readFileSync(join(ws, "nixstore/nixstore.MODULE.bazel"), "utf8")).toBe(readFileSync(join(REPO_ROOT, "examples/binary-cache/nixstore/nixstore.MODULE.bazel"), "utf8"));
  });
});
