#!/usr/bin/env node
// @ts-check
/**
 * Machine cache (rules_nixstore): what K output bases holding the same packages cost on disk,
 * and what a fresh output base (new checkout, `bazel clean --expunge`) pays to fetch them, with
 * the machine cache shared by all output bases and without it (RULES_NIXSTORE_MACHINE_CACHE=off).
 *
 * Each checkout is a temp workspace consuming rules_nixstore through local_repository, with the
 * offline fixture nixpkgs and its own output base (so its own Bazel server, shut down after its
 * fetch). Every checkout declares the same PACKAGES; a fetch is `bazel build --nobuild` of their
 * closures. Builds are counted from Nix's build logs (<store>/nix/var/log/nix/drvs, one file
 * per derivation built) of the cache and of the output base's store.
 *
 *   with cache      checkouts 1..K share a fresh machine cache: 1 builds into it, 2..K bring
 *                   the closures in as hard links
 *   without cache   checkouts 1..K with the cache off: each builds into its own store
 *
 * Disk is `du -s -B1` (allocated blocks; a file with several links counts once per `du` run)
 * over the stores' nix/store directories, plus the cache's for "with cache": for 1 and for K
 * output bases. Every fetch must succeed.
 *
 *   node bench/machine-cache.mjs [--outputs K] [--keep]
 *
 * The second checkout of each kind then times 3 refetches (`bazel sync --only=<each package>`,
 * everything in the store already): with the cache, each repository also asks the output base
 * which paths it lacks and roots its outputs there.
 *
 * Needs `npm run build` (dist/), Debian's Bazel 4.2.3 and Nix. Writes
 * bench/results/machine-cache.json.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FIXTURE, NIXGEN, REPO, die, machineInfo, median, r2, run, walk } from "./support.mjs";

const i = process.argv.indexOf("--outputs");
const K = i >= 0 ? Number(process.argv[i + 1]) : 3;
const KEEP = process.argv.includes("--keep");
const REFETCHES = 3;
if (!(K >= 2 && K <= 10)) throw new Error("--outputs must be 2..10");

// Packages whose closures hold real files: the host's glibc libraries, busybox, 300 small files.
const PACKAGES = ["hello", "greet", "linked", "manyfiles", ...Array.from({ length: 10 }, (_, n) => `tiny${String(n + 1).padStart(2, "0")}`)];



const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nixstore-bench-machine-cache-"));

/** A checkout: workspace and output base under tmp/<name>. */
function checkout(name) {
  const ws = path.join(tmp, name, "ws");
  const ob = path.join(tmp, name, "ob");
  fs.cpSync(FIXTURE, path.join(ws, "nixpkgs"), { recursive: true });
  fs.writeFileSync(path.join(ws, "nixpkgs/BUILD.bazel"), `exports_files(glob(["**"]))\n`);
  fs.writeFileSync(path.join(ws, "BUILD.bazel"), "");
  fs.writeFileSync(path.join(ws, ".bazelrc"), "try-import %workspace%/.nixstore.bazelrc\n");
  const deps = walk(path.join(ws, "nixpkgs"))
    .map((f) => path.relative(path.join(ws, "nixpkgs"), f))
    .filter((f) => f !== "BUILD.bazel")
    .sort()
    .map((f) => JSON.stringify(`//nixpkgs:${f}`));
  const pkg = (n) =>
    `nixpkgs_package(name = "${n}", attribute_path = "${n}", repository = "@nixpkgs", nixopts = ["--option", "substituters", ""], quiet = True)`;
  fs.writeFileSync(
    path.join(ws, "WORKSPACE"),
    [
      `workspace(name = "bench")`,
      `local_repository(name = "rules_nixstore", path = ${JSON.stringify(REPO)})`,
      `load("@rules_nixstore//rules:repositories.bzl", "rules_nixstore_dependencies")`,
      `rules_nixstore_dependencies()`,
      `load("@rules_nixstore//rules:defs.bzl", "nixpkgs_local_repository", "nixpkgs_package")`,
      `nixpkgs_local_repository(name = "nixpkgs", nix_file = "//nixpkgs:default.nix", nix_file_deps = [${deps.join(", ")}])`,
      ...PACKAGES.map(pkg),
      "",
    ].join("\n"),
  );
  run("node", [NIXGEN, "bazelrc", "--workspace", ws, "--output-base", ob]);
  return { ws, ob, store: path.join(ob, "nixstore") };
}

/** Derivations built in a store since it was created (Nix's build logs). */
function builds(root) {
  const dir = path.join(root, "nix/var/log/nix/drvs");
  return fs.existsSync(dir) ? fs.readdirSync(dir).flatMap((d) => fs.readdirSync(path.join(dir, d))).length : 0;
}

/** Bytes of these directories together, a file with several links counted once. */
function du(dirs) {
  const out = run("du", ["-s", "-B1", "-c", ...dirs]);
  return Number(/^(\d+)\s+total$/m.exec(out)?.[1] ?? die(`du printed no total:\n${out}`));
}


/**
 * Fetches every package's closure in a fresh checkout; returns seconds and builds. Then, when
 * `refetches` > 0, times that many `bazel sync --only=<each package>` (the store holds everything).
 */
function fetch(name, cache, refetches = 0) {
  const c = checkout(name);
  const env = { ...process.env, RULES_NIXSTORE_MACHINE_CACHE: cache };
  const bazel = (args) => run("bazel", [`--output_base=${c.ob}`, "--max_idle_secs=300", ...args], { cwd: c.ws, env });
  bazel(["info", "output_base"]); // the server starts outside the timing
  const cacheBuildsBefore = cache === "off" ? 0 : builds(cache);
  const t0 = process.hrtime.bigint();
  bazel(["build", "--nobuild", ...PACKAGES.map((p) => `@${p}//:closure`)]);
  const seconds = r2(Number(process.hrtime.bigint() - t0) / 1e9);
  const syncs = [];
  for (let n = 0; n < refetches; n++) {
    const t1 = process.hrtime.bigint();
    bazel(["sync", ...PACKAGES.map((p) => `--only=${p}`)]);
    syncs.push(r2(Number(process.hrtime.bigint() - t1) / 1e9));
  }
  bazel(["shutdown"]);
  const built = (cache === "off" ? 0 : builds(cache) - cacheBuildsBefore) + builds(c.store);
  process.stderr.write(`  ${name}: ${seconds}s, ${built} derivations built${syncs.length ? `; refetches ${syncs.join(", ")}s` : ""}\n`);
  return { ...c, seconds, builds: built, refetch_seconds: syncs };
}

try {
  const cache = path.join(tmp, "machine-cache");
  process.stderr.write(`${K} checkouts of ${PACKAGES.length} packages with a shared machine cache...\n`);
  const withCache = Array.from({ length: K }, (_, n) => fetch(`cached${n + 1}`, cache, n === 1 ? REFETCHES : 0));
  process.stderr.write(`${K} checkouts without it...\n`);
  const without = Array.from({ length: K }, (_, n) => fetch(`plain${n + 1}`, "off", n === 1 ? REFETCHES : 0));
  if (withCache.slice(1).some((c) => c.builds !== 0)) die("a fetch with a warm machine cache built a derivation");

  const stores = (cs) => cs.map((c) => path.join(c.store, "nix/store"));
  const cacheStore = path.join(cache, "nix/store");
  const disk = {
    with_cache: {
      cache_alone: du([cacheStore]),
      one_output_base_plus_cache: du([cacheStore, ...stores(withCache.slice(0, 1))]),
      k_output_bases_plus_cache: du([cacheStore, ...stores(withCache)]),
      each_output_base_counted_alone: withCache.map((c) => du(stores([c]))),
    },
    without_cache: {
      one_output_base: du(stores(without.slice(0, 1))),
      k_output_bases: du(stores(without)),
    },
  };
  const growthWith = disk.with_cache.k_output_bases_plus_cache - disk.with_cache.one_output_base_plus_cache;
  const growthWithout = disk.without_cache.k_output_bases - disk.without_cache.one_output_base;
  const result = {
    benchmark: "machine-cache",
    date: new Date().toISOString(),
    machine: machineInfo(),
    packages: PACKAGES,
    output_bases: K,
    fetch: {
      with_cache: withCache.map((c) => ({ seconds: c.seconds, builds: c.builds })),
      without_cache: without.map((c) => ({ seconds: c.seconds, builds: c.builds })),
    },
    refetch_of_second_checkout: {
      with_cache: { runs_seconds: withCache[1].refetch_seconds, median_seconds: median(withCache[1].refetch_seconds) },
      without_cache: { runs_seconds: without[1].refetch_seconds, median_seconds: median(without[1].refetch_seconds) },
    },
    disk_bytes: disk,
    growth_from_1_to_k_output_bases_bytes: { with_cache: growthWith, without_cache: growthWithout },
    growth_ratio: r2(growthWith / growthWithout),
  };
  fs.mkdirSync(path.join(REPO, "bench/results"), { recursive: true });
  fs.writeFileSync(path.join(REPO, "bench/results/machine-cache.json"), JSON.stringify(result, null, 2) + "\n");
  console.log(JSON.stringify({ fetch: result.fetch, refetch: result.refetch_of_second_checkout, disk_bytes: disk, growth: result.growth_from_1_to_k_output_bases_bytes }, null, 2));
} finally {
  if (KEEP) process.stderr.write(`kept ${tmp}\n`);
  else {
    spawnSync("chmod", ["-R", "u+w", tmp]);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
