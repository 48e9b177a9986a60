// The machine cache (rules/private/machine_cache.bzl): packages are built once in a chroot store
// shared by every output base of the user, and a fresh output base (another checkout, `bazel
// clean --expunge`) gets their closure from there, hard-linked, without building. A modified
// file in the cache is refused and rebuilt; `nixgen gc --machine-cache` prunes what no output
// base uses. Builds are counted with Nix's own build logs (one file per derivation built, under
// <store>/nix/var/log/nix/drvs), which the tests clear before each step.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeEvalCounter, nixgenLock, useEvalCounter } from "./lock-support.js";
import { FLAVORS, REPO_ROOT, closureEntries, explain, makeWorkspace, type Flavor, type PackageSpec, type Workspace } from "./harness.js";

/** The launcher helper, whose --nar-hash prints NAR hashes as `nix-store --query --hash` does. */
const ENTER = join(REPO_ROOT, "rules/private/enter/x86_64-linux/enter");

const HELLO: PackageSpec = { name: "hello" };
const GREET: PackageSpec = { name: "greet" };

/** A genrule that runs each package's executable. */
function buildFile(packages: PackageSpec[]): string {
  const tools = packages.map((p) => `"@${p.name}//:bin/${p.name}"`);
  const cmd = packages.map((p) => `$(location @${p.name}//:bin/${p.name}) mc`).join("; ");
  return `genrule(\n    name = "out",\n    outs = ["out.txt"],\n    tools = [${tools.join(", ")}],\n    cmd = "(${cmd}) > $@",\n)\n`;
}
const EXPECTED: Record<string, string> = { hello: "hello from nix\n", greet: "greet from nix mc\n" };

/** Derivations built in a store (Nix's build logs), by name. */
function builds(root: string): string[] {
  const dir = join(root, "nix/var/log/nix/drvs");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .flatMap((d) => readdirSync(join(dir, d)))
    .map((f) => f.replace(/^[0-9a-z]+-/, "").replace(/\.drv(\.bz2)?$/, ""))
    .sort();
}
function clearBuilds(root: string): void {
  rmSync(join(root, "nix/var/log/nix/drvs"), { recursive: true, force: true });
}

/** Bytes `du` counts for these directories together (a file with several links counts once). */
async function du(flavor: Flavor, dirs: string[]): Promise<number> {
  const r = await execa("du", ["-s", "-B1", "-c", ...dirs], { reject: false });
  expect(r.exitCode, explain(r)).toBe(0);
  return Number(/^(\d+)\s+total$/m.exec(r.stdout)![1]);
}

describe.each(FLAVORS)("machine cache, $title", (flavor) => {
  let cacheParent: string;
  let cache: string;
  const spaces: Workspace[] = [];
  const storeOf = (ws: Workspace) => join(ws.outputBase, "nixstore");

  /** A new checkout of a workspace using `packages`, with the given machine cache. */
  async function checkout(packages: PackageSpec[], machineCache = cache): Promise<Workspace> {
    const ws = await makeWorkspace(flavor, { packages, build: buildFile(packages) });
    ws.machineCache = machineCache;
    spaces.push(ws);
    return ws;
  }
  async function buildOk(ws: Workspace, packages: PackageSpec[]): Promise<string> {
    const r = await ws.bazel(["build", "//:out"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(ws.bin("out.txt")).toBe(packages.map((p) => EXPECTED[p.name]).join(""));
    return String(r.all);
  }
  const nixStore = (ws: Workspace, root: string, args: string[]) =>
    ws.run(["nix-store", "--store", root, "--option", "build-users-group", "", ...args]);
  /**
   * The output base's copy of the closure has the NAR hashes the cache registered: its files are
   * hard links of the cache's, brought in (and checked) by the fetch's fast path without being
   * registered in the output base's store (rules/private/fetch.bzl).
   */
  async function verifies(ws: Workspace, name: string, from: string = cache): Promise<void> {
    const entries = closureEntries(ws, name);
    const here = await ws.run([ENTER, "--nar-hash", join(storeOf(ws), "nix/store"), ...entries]);
    const there = await nixStore(ws, from, ["--query", "--hash", ...entries.map((e) => `/nix/store/${e}`)]);
    expect(here.exitCode, explain(here)).toBe(0);
    expect(there.exitCode, explain(there)).toBe(0);
    expect(here.stdout).toBe(there.stdout);
  }
  const outPath = (ws: Workspace, name: string) => closureEntries(ws, name).find((e) => e.endsWith(`-${name}`))!;
  const close = async (ws: Workspace) => {
    await ws.close();
    spaces.splice(spaces.indexOf(ws), 1);
  };

  let a: Workspace;
  let b: Workspace;

  beforeAll(() => {
    cacheParent = mkdtempSync(join(tmpdir(), `nixstore-mc-${flavor.id}-`));
    cache = join(cacheParent, "store");
  });
  afterAll(async () => {
    for (const ws of [...spaces]) await ws.close();
    await execa("chmod", ["-R", "u+w", cacheParent], { reject: false });
    rmSync(cacheParent, { recursive: true, force: true });
  });

  test("a second checkout and an expunged output base get the closure from the cache, building nothing", async () => {
    a = await checkout([HELLO, GREET]);
    await buildOk(a, [HELLO, GREET]);
    // Built in the cache, not in the output base's store.
    expect(builds(cache)).toEqual(expect.arrayContaining(["hello", "greet", "libgreet"]));
    expect(builds(storeOf(a))).toEqual([]);
    await verifies(a, "hello");

    clearBuilds(cache);
    b = await checkout([HELLO]);
    await buildOk(b, [HELLO]);
    expect(builds(cache)).toEqual([]);
    expect(builds(storeOf(b))).toEqual([]);
    await verifies(b, "hello");
    // Hard links of the cache's files (verifies: with the cache's NAR hashes).
    const file = `nix/store/${outPath(b, "hello")}/bin/hello`;
    expect(statSync(join(storeOf(b), file)).ino).toBe(statSync(join(cache, file)).ino);

    const expunge = await a.bazel(["clean", "--expunge"]);
    expect(expunge.exitCode, explain(expunge)).toBe(0);
    expect(existsSync(storeOf(a))).toBe(false);
    await buildOk(a, [HELLO, GREET]);
    expect(builds(cache)).toEqual([]);
    expect(builds(storeOf(a))).toEqual([]);
    await verifies(a, "greet");
  });

  test("three output bases holding the same packages take about one copy of their files", async () => {
    const c = await checkout([HELLO]);
    await buildOk(c, [HELLO]);
    const stores = [a, b, c].map((ws) => join(storeOf(ws), "nix/store"));
    const cacheFiles = await du(flavor, [join(cache, "nix/store")]);
    const each = await Promise.all(stores.map((s) => du(flavor, [s])));
    const together = await du(flavor, [join(cache, "nix/store"), ...stores]);
    console.log(`${flavor.id}: cache ${cacheFiles} B; output bases alone ${each.join(", ")} B; cache + 3 output bases ${together} B`);
    // Counted alone, each output base holds a full copy of its closure (as without the cache);
    // counted with the cache, where hard links count once, they add little more than directories.
    const alone = each.reduce((x, y) => x + y, 0);
    expect(Math.min(...each)).toBeGreaterThan(1_000_000);
    expect(together - cacheFiles).toBeLessThan(alone * 0.1);
    await close(c);
  });

  test("a modified file or a missing path in the cache is refused, named, and rebuilt before a fresh output base gets it", async () => {
    await close(b);
    const hello = `/nix/store/${outPath(a, "hello")}`;
    const file = join(cache, hello, "bin/hello");
    chmodSync(file, 0o755);
    writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from("tampered")]));
    // A path of the closure is gone from the cache, too (its directories made writable; the
    // files' modes are shared with the output bases' links).
    const libgreet = `/nix/store/${closureEntries(a, "hello").find((e) => e.endsWith("-libgreet"))!}`;
    await execa("find", [join(cache, libgreet), "-type", "d", "-exec", "chmod", "u+w", "{}", "+"]);
    rmSync(join(cache, libgreet), { recursive: true });
    clearBuilds(cache);

    b = await checkout([HELLO]);
    const out = await buildOk(b, [HELLO]);
    expect(out).toContain("holds modified (or lacks the) copies of these store paths; they are refused and rebuilt there");
    expect(out).toContain(`  ${hello}`);
    expect(out).toContain(`  ${libgreet}`);
    expect(builds(cache)).toEqual(expect.arrayContaining(["hello", "libgreet"]));
    expect(builds(storeOf(b))).toEqual([]);
    await verifies(b, "hello");
    const cached = await nixStore(b, cache, ["--verify-path", hello]);
    expect(cached.exitCode, explain(cached)).toBe(0);
  });

  test("nixgen gc --machine-cache deletes what no output base uses and keeps the rest", async () => {
    // greet's output; not busybox, the rest of its closure: Nix also keeps what any running
    // process maps or has open at /nix/store (runtime roots), and builds of other output bases
    // on this machine run the fixture's busybox there.
    const greet = closureEntries(a, "greet").filter((e) => e.endsWith("-greet"));
    expect(greet).toHaveLength(1);
    const hello = closureEntries(b, "hello");
    await close(a); // its repositories held the only roots of greet's closure
    const inCache = (e: string) => existsSync(join(cache, "nix/store", e));

    const dry = await b.nixgen(["gc", "--machine-cache", "--dry-run"]);
    expect(dry.exitCode, explain(dry)).toBe(0);
    for (const e of greet) expect(dry.stdout).toContain(`would remove /nix/store/${e}`);
    for (const e of hello) expect(dry.stdout).not.toContain(`/nix/store/${e}\n`);
    expect(greet.every(inCache)).toBe(true);

    const gc = await b.nixgen(["gc", "--machine-cache"]);
    expect(gc.exitCode, explain(gc)).toBe(0);
    expect(gc.stdout).toContain(`in ${cache}`);
    expect(greet.filter(inCache)).toEqual([]);
    expect(hello.filter(inCache)).toEqual(hello);

    // What b uses is intact, and a fresh checkout still gets hello without a build.
    await verifies(b, "hello");
    clearBuilds(cache);
    const d = await checkout([HELLO]);
    await buildOk(d, [HELLO]);
    expect(builds(cache)).toEqual([]);
    await close(d);
  });

  test("with a lock, a fresh output base gets the pinned closure from the cache without evaluating", async () => {
    const lock = await nixgenLock(b);
    expect(lock.exitCode, explain(lock)).toBe(0);
    const h = await checkout([{ ...HELLO, extra: `lock = "//:nixstore.lock.json"` }]);
    h.write("nixstore.lock.json", b.read("nixstore.lock.json"));
    const counter = makeEvalCounter(join(h.root, "counter"), flavor);
    useEvalCounter(h, counter);
    clearBuilds(cache);
    await buildOk(h, [HELLO]);
    expect(counter.lines()).toEqual([]);
    expect(builds(cache)).toEqual([]);
    expect(builds(storeOf(h))).toEqual([]);
    await verifies(h, "hello");
    await close(h);
  });

  test("concurrent fetches of two output bases fill a fresh cache; a cache on another file system is copied from", async () => {
    const fresh = join(cacheParent, "fresh");
    const [e, f] = [await checkout([HELLO, GREET], fresh), await checkout([HELLO, GREET], fresh)];
    await Promise.all([buildOk(e, [HELLO, GREET]), buildOk(f, [HELLO, GREET])]);
    for (const ws of [e, f]) {
      await verifies(ws, "hello", fresh);
      await verifies(ws, "greet", fresh);
    }
    await close(e);
    await close(f);

    // /dev/shm is a tmpfs: no hard link reaches it from the output base's file system. The cache
    // is given as users do, with --repo_env, which wins over Bazel's environment.
    const shm = mkdtempSync("/dev/shm/nixstore-mc-");
    try {
      const unused = join(cacheParent, "unused");
      const g = await checkout([GREET], unused);
      appendFileSync(join(g.dir, ".bazelrc"), `build --repo_env=RULES_NIXSTORE_MACHINE_CACHE=${join(shm, "store")}\n`);
      const out = await buildOk(g, [GREET]);
      expect(out).toContain(`the machine cache ${join(shm, "store")} and the output base's store ${storeOf(g)} are on different file systems`);
      expect(existsSync(unused)).toBe(false);
      expect(builds(join(shm, "store"))).toContain("greet");
      await verifies(g, "greet", join(shm, "store"));
      await close(g);
    } finally {
      await execa("chmod", ["-R", "u+w", shm], { reject: false });
      rmSync(shm, { recursive: true, force: true });
    }
  });

  test("without flock on PATH, the fetch fails naming flock and the store it locks, and creates no store", async () => {
    // Every command of /usr/bin but flock (links by absolute name: under Bazel 7 they resolve
    // in its Debian sid root, to sid's own commands).
    const bin = join(cacheParent, "no-flock-bin");
    mkdirSync(bin, { recursive: true });
    for (const name of readdirSync("/usr/bin")) if (name !== "flock" && !existsSync(join(bin, name))) symlinkSync(`/usr/bin/${name}`, join(bin, name));
    const unused = join(cacheParent, "no-flock-cache");
    const ws = await checkout([HELLO], unused);
    const r = await ws.bazel(["build", "--nobuild", `--repo_env=PATH=${bin}`, "//:out"]);
    expect(r.exitCode, explain(r)).not.toBe(0);
    // The first store a fetch creates is the machine cache (by the packages' shared evaluation).
    expect(r.all).toMatch(/rules_nixstore \(@[\w.~-]+\): flock is not on PATH \(([^)]+)\): rules_nixstore locks the creation of the Nix store at (\S+) with it, as Bazel fetches repositories in parallel, and does not run unlocked\./);
    expect(r.all).toContain(`flock is not on PATH (${bin}): rules_nixstore locks the creation of the Nix store at ${unused} with it`);
    expect(r.all).toContain("Fix: install flock (Debian and Ubuntu: apt-get install util-linux");
    expect(existsSync(join(storeOf(ws), "nix/var/nix/db"))).toBe(false);
    expect(existsSync(join(unused, "nix/var/nix/db"))).toBe(false);
    await close(ws);
  });
});
