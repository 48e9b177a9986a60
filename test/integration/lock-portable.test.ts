// One lock file for both machines: a lock written by `nixgen lock` on Bazel 4.2.3 + Nix 2.8
// (WORKSPACE) is honoured on Bazel 7.7.1 + Nix 2.34 (bzlmod), where locking again changes no
// byte, and back. Pins are keyed by the names users write, the inputs digest keys files by
// labels that read the same under WORKSPACE and bzlmod, and the store paths are the same on
// both (the fixture's busybox-only packages, built from one busybox copied into both
// workspaces; the machines' own busybox binaries differ).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { chmodSync, copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { BAZEL4, BAZEL7, FLAVORS, explain, makeWorkspace, type Flavor, type PackageSpec, type Workspace } from "./harness.js";
import { makeEvalCounter, nixgenLock, useEvalCounter, type EvalCounter } from "./lock-support.js";

const NAMES = ["greet", "tiny01"];
const packages = (locked: boolean): PackageSpec[] =>
  NAMES.map((name) => ({ name, ...(locked ? { extra: `lock = "//:nixstore.lock.json"` } : {}) }));
const BUILD = `genrule(name = "out", outs = ["out.txt"], tools = ["@tiny01//:bin/tiny01", "@greet//:bin/greet"], cmd = "($(location @tiny01//:bin/tiny01); $(location @greet//:bin/greet) both) > $@")\n`;
const HOST_BUSYBOX = existsSync("/usr/bin/busybox") ? "/usr/bin/busybox" : "/bin/busybox";

interface Machine {
  ws: Workspace;
  counter: EvalCounter;
}

async function machine(flavor: Flavor): Promise<Machine> {
  const ws = await makeWorkspace(flavor, { packages: packages(false), build: BUILD });
  // The same busybox bytes on both machines (test/fixtures/nixpkgs/README.md).
  mkdirSync(join(ws.dir, "nixpkgs/bootstrap"));
  copyFileSync(HOST_BUSYBOX, join(ws.dir, "nixpkgs/bootstrap/busybox"));
  chmodSync(join(ws.dir, "nixpkgs/bootstrap/busybox"), 0o755);
  ws.writePackages(packages(false));
  const counter = makeEvalCounter(join(ws.root, "counter"), flavor);
  useEvalCounter(ws, counter);
  return { ws, counter };
}

describe.runIf(FLAVORS.includes(BAZEL4) && FLAVORS.includes(BAZEL7))("a lock moves between Bazel 4.2.3 and Bazel 7.7.1", () => {
  let old: Machine;
  let mod: Machine;
  let lockText = "";

  beforeAll(async () => {
    old = await machine(BAZEL4);
    mod = await machine(BAZEL7);
  });
  afterAll(async () => {
    await old?.ws.close();
    await mod?.ws.close();
  });

  test("written on Bazel 4.2.3 (WORKSPACE), keyed by the packages' names", async () => {
    const r = await nixgenLock(old.ws);
    expect(r.exitCode, explain(r)).toBe(0);
    lockText = old.ws.read("nixstore.lock.json");
    const lock = JSON.parse(lockText) as { packages: Record<string, { inputs: string }> };
    expect(Object.keys(lock.packages)).toEqual(NAMES);
  });

  test("honoured on Bazel 7.7.1 (bzlmod): what Nix 2.34 builds is what Nix 2.8 pinned; locking again changes no byte", async () => {
    mod.ws.write("nixstore.lock.json", lockText);
    mod.ws.writePackages(packages(true));
    // The store is fresh: Nix builds, and the fetch compares what it built with the pins (a
    // different output or NAR hash fails the fetch, naming the path).
    const r = await mod.ws.bazel(["build", "//:out"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(mod.ws.bin("out.txt")).toBe("tiny01\ngreet from nix both\n");
    const again = await nixgenLock(mod.ws);
    expect(again.exitCode, explain(again)).toBe(0);
    expect(again.stdout).toMatch(/unchanged .*nixstore\.lock\.json \(2 package\(s\) locked\)/);
    expect(mod.ws.read("nixstore.lock.json")).toBe(lockText);
    // The inputs digests matched: with the pinned paths in the store now, no evaluation at all.
    mod.counter.reset();
    const fast = await mod.ws.refetch(NAMES);
    expect(fast.exitCode, explain(fast)).toBe(0);
    expect(mod.counter.lines()).toEqual([]);
  });

  test("and back: the lock Bazel 7.7.1 kept takes Bazel 4.2.3's fast path", async () => {
    old.ws.write("nixstore.lock.json", mod.ws.read("nixstore.lock.json"));
    old.ws.writePackages(packages(true));
    old.counter.reset();
    const r = await old.ws.bazel(["build", "//:out"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(old.ws.bin("out.txt")).toBe("tiny01\ngreet from nix both\n");
    expect(old.counter.lines()).toEqual([]);
  });
});
