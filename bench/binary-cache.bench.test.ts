// 50 locked packages fetched after `bazel clean --expunge`: downloaded from a binary cache with no
// Nix on the machine (cold: empty repository cache; warm: repository cache filled), against the
// same fetch with Nix and a warm machine cache (no lock `nars`: the pinned closures are brought
// in from the machine cache), on Bazel 4.2.3 + Nix 2.8 (WORKSPACE) and Bazel 7.7.1 + Nix 2.34
// (bzlmod); and the bytes each fetch downloaded.
//
//   npx vitest run --config bench/vitest.config.ts bench/binary-cache.bench.test.ts
//   (BENCH_RUNS=N, default 3; NIXSTORE_TEST_BAZEL=4,7 picks the machines)
//
// The packages are tiny01..tiny50 of the test fixture (a busybox shell script each: 51 store
// paths, busybox shared by all). The cache is made with `nix copy --to file://...` (xz, signed)
// and served over http://127.0.0.1 by the tests' static server, which counts the bytes it sends;
// the lock is written by `nixgen lock --binary-cache`. Each run: `bazel clean --expunge`, a
// `bazel info` that starts the server (not timed), then the timed `bazel build --nobuild` of the
// 50 `:closure` targets. The Nix-less runs give repository rules a PATH with every program of the
// machine but Nix's. Phases, BENCH_RUNS runs each:
//
//   nix, warm machine cache   the lock without `nars`, Nix on PATH, the machine cache holding
//                             every path (as on a developer's machine after the first build)
//   no Nix, cold              the lock with `nars`, repository cache emptied before each run
//   no Nix, warm              the same, repository cache kept (what a second output base,
//                             a new checkout or `clean --expunge` pays)
//
// Writes bench/results/binary-cache.json.
import { afterAll, expect, test } from "vitest";
import { cpus, loadavg } from "node:os";
import { appendFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { copyToCache, makeCacheKey, narBytes, pathWithoutNix, startCacheServer, type CacheServer } from "../test/integration/binary-cache-support.js";
import { FLAVORS, REPO_ROOT, explain, makeWorkspace, type PackageSpec, type Workspace } from "../test/integration/harness.js";
import { nixgenLock } from "../test/integration/lock-support.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RESULTS = join(REPO_ROOT, "bench/results/binary-cache.json");
const TINY = Array.from({ length: 50 }, (_, i) => `tiny${String(i + 1).padStart(2, "0")}`);
const specs = (locked: boolean): PackageSpec[] => TINY.map((name) => ({ name, ...(locked ? { extra: `lock = "//:nixstore.lock.json"` } : {}) }));
const CLOSURES = TINY.map((n) => `@${n}//:closure`);

const results: Record<string, unknown> = {};
const cleanups: (() => Promise<void>)[] = [];
const round = (x: number) => Math.round(x * 100) / 100;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
  writeFileSync(
    RESULTS + ".tmp",
    JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, runs: RUNS, packages: TINY.length, results }, null, 2) + "\n",
  );
  renameSync(RESULTS + ".tmp", RESULTS);
});

test.each(FLAVORS)("50 locked packages after clean --expunge: downloaded without Nix (cold, warm) vs Nix with a warm machine cache, $title", async (flavor) => {
  const ws: Workspace = await makeWorkspace(flavor, { packages: specs(false), build: "" });
  const repoCache = join(ws.root, "repo-cache");
  appendFileSync(join(ws.dir, ".bazelrc"), ["build", "fetch", "sync", "query"].map((c) => `${c} --repository_cache=${repoCache}\n`).join(""));
  let server: CacheServer | undefined;
  cleanups.push(async () => {
    await server?.stop();
    await ws.close();
  });

  // The machine with Nix locks (building all 50 into its machine cache), makes the cache, and
  // locks again against it.
  const plain = await nixgenLock(ws);
  expect(plain.exitCode, explain(plain)).toBe(0);
  const plainLock = ws.read("nixstore.lock.json");
  const lock = JSON.parse(plainLock) as { packages: Record<string, { closure: Record<string, string> }> };
  const paths = [...new Set(Object.values(lock.packages).flatMap((e) => Object.keys(e.closure)))];
  const key = await makeCacheKey(join(ws.root, "keys"), "rules-nixstore-bench-1");
  const cacheDir = join(ws.root, "cache");
  await copyToCache(flavor, ws.machineCache, paths, cacheDir, key, "xz");
  server = await startCacheServer(cacheDir);
  const locked = await nixgenLock(ws, ["--binary-cache", server.url, "--public-key", key.publicKey]);
  expect(locked.exitCode, explain(locked)).toBe(0);
  const narLock = ws.read("nixstore.lock.json");
  ws.writePackages(specs(true));
  const noNix = pathWithoutNix(ws.root, flavor);

  async function phase(name: string, lockText: string, flags: string[], emptyRepoCache: boolean) {
    ws.write("nixstore.lock.json", lockText);
    const runs: { seconds: number; bytes: number; nars: number }[] = [];
    for (let i = 0; i < RUNS; i++) {
      if (emptyRepoCache) rmSync(repoCache, { recursive: true, force: true });
      const expunged = await ws.bazel(["clean", "--expunge"]);
      expect(expunged.exitCode, explain(expunged)).toBe(0);
      await ws.bazel(["info", "release"]);
      server!.reset();
      const started = process.hrtime.bigint();
      const r = await ws.bazel(["build", "--nobuild", ...flags, ...CLOSURES]);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      expect(r.exitCode, `${name}: ${explain(r)}`).toBe(0);
      runs.push({ seconds: round(seconds), bytes: server!.bytes(), nars: server!.narRequests().length });
    }
    return { medianSeconds: median(runs.map((r) => r.seconds)), medianBytes: median(runs.map((r) => r.bytes)), runs };
  }

  const phases = {
    "nix, warm machine cache": await phase("nix", plainLock, [], false),
    "no Nix, cold repository cache": await phase("cold", narLock, [`--repo_env=PATH=${noNix}`], true),
    "no Nix, warm repository cache": await phase("warm", narLock, [`--repo_env=PATH=${noNix}`], false),
  };
  results[flavor.title] = { storePaths: paths.length, cacheNarBytes: narBytes(cacheDir), load: loadavg().map(round), phases };
  console.log(flavor.title, JSON.stringify(results[flavor.title], null, 2));
  // Cold: every NAR downloaded, some twice (packages fetched at once that share a store path
  // both download it before either has unpacked it); warm: nothing downloaded.
  expect(phases["no Nix, cold repository cache"].runs.every((r) => r.nars >= paths.length && r.bytes >= narBytes(cacheDir))).toBe(true);
  expect(phases["no Nix, warm repository cache"].runs.every((r) => r.bytes === 0)).toBe(true);
});
