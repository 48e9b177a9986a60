// One Nix evaluation per nixpkgs, with real Bazel and Nix (both flavors): packages of one nixpkgs
// declared together (nixpkgs_packages in WORKSPACE, nixstore.package tags under bzlmod) share one
// nix-instantiate, and each package only realises its derivation. Evaluations are counted by
// wrappers around the real nix-build and nix-instantiate (lock-support.ts).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { FLAVORS, explain, makeWorkspace, type PackageSpec, type Workspace } from "./harness.js";
import { makeEvalCounter, useEvalCounter, type EvalCounter } from "./lock-support.js";

const TINY = Array.from({ length: 50 }, (_, i) => `tiny${String(i + 1).padStart(2, "0")}`);
const packages = (names: string[]): PackageSpec[] => names.map((name) => ({ name }));

const BUILD = `
genrule(
    name = "both",
    outs = ["both.txt"],
    tools = ["@tiny01//:bin/tiny01", "@tiny50//:bin/tiny50"],
    cmd = "$(location @tiny01//:bin/tiny01) > $@ && $(location @tiny50//:bin/tiny50) >> $@",
)
`;

describe.each(FLAVORS)("one Nix evaluation per nixpkgs, $title", (flavor) => {
  let ws: Workspace;
  let counter: EvalCounter;
  const fetchAll = (names: string[]) => ws.bazel(["build", "--nobuild", ...names.map((n) => `@${n}//:closure`)]);
  const builtAt = (name: string) => statSync(join(ws.repoDir(name), "BUILD.bazel")).mtimeMs;

  beforeAll(async () => {
    ws = await makeWorkspace(flavor, { packages: packages(TINY), build: BUILD });
    counter = makeEvalCounter(join(ws.root, "counter"), flavor);
    useEvalCounter(ws, counter);
  });

  afterAll(async () => {
    await ws?.close();
  });

  test("a cold fetch of 50 packages of one nixpkgs runs 1 evaluation, and the packages work", async () => {
    const r = await fetchAll(TINY);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(counter.lines()).toHaveLength(1);
    const [line] = counter.lines();
    expect(line).toMatch(/^nix-instantiate /);
    expect(line!.match(/ -A tiny\d\d/g)).toHaveLength(50);

    const built = await ws.bazel(["build", "//:both"]);
    expect(built.exitCode, explain(built)).toBe(0);
    expect(readFileSync(join(ws.dir, "bazel-bin/both.txt"), "utf8")).toBe("tiny01\ntiny50\n");
  });

  test("adding a package evaluates once and fetches no other package again", async () => {
    const before = Object.fromEntries(TINY.map((n) => [n, builtAt(n)]));
    counter.reset();
    ws.writePackages(packages([...TINY, "greet"]));
    const r = await fetchAll([...TINY, "greet"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(counter.lines()).toHaveLength(1);
    expect(counter.lines()[0]).toMatch(/^nix-instantiate .* -A greet /);
    expect(TINY.filter((n) => builtAt(n) !== before[n])).toEqual([]);
  });

  test("changing one package's attribute evaluates once and fetches only that package again", async () => {
    const before = Object.fromEntries(TINY.map((n) => [n, builtAt(n)]));
    counter.reset();
    ws.writePackages([...packages(TINY.slice(1)), { name: "tiny01", attribute_path: "tiny02" }, { name: "greet" }]);
    const r = await fetchAll([...TINY, "greet"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(counter.lines()).toHaveLength(1);
    expect(TINY.filter((n) => builtAt(n) !== before[n])).toEqual(["tiny01"]);
    expect(readFileSync(join(ws.repoDir("tiny01"), "nix/closure.txt"), "utf8")).toMatch(/-tiny02\n/);
  });

  test("an unknown attribute: Nix's error names that package and attribute; the others still build", async () => {
    counter.reset();
    ws.writePackages([...packages(TINY), { name: "broken", attribute_path: "no_such_attribute" }]);
    const broken = await fetchAll(["broken"]);
    expect(broken.exitCode).not.toBe(0);
    expect(broken.all).toContain(`nixpkgs_package(name = "broken"): nix-build failed for attribute_path 'no_such_attribute'`);
    expect(broken.all).toMatch(/attribute 'no_such_attribute'.* not found|no_such_attribute/);

    // The shared evaluation failed, so a package of it evaluates on its own (and still works).
    counter.reset();
    const good = await ws.bazel(["build", "//:both"]);
    expect(good.exitCode, explain(good)).toBe(0);
    expect(readFileSync(join(ws.dir, "bazel-bin/both.txt"), "utf8")).toBe("tiny01\ntiny50\n");
  });
});
