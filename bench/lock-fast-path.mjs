#!/usr/bin/env node
// @ts-check
/**
 * Lock fast path (rules_nixstore): fetch time of PACKAGES nixpkgs_package repositories with
 * and without `nixstore.lock.json`, and the number of Nix evaluations in each.
 *
 * One temp workspace consuming rules_nixstore through local_repository, with the offline
 * fixture nixpkgs (tiny01..tiny50), one private output base, and an evaluation counter: a
 * directory first on the repository rules' PATH (--repo_env=PATH=...) whose nix-build and
 * nix-instantiate log a line, then exec the real Nix. Phases, all on the same Bazel server:
 *
 *   cold           first fetch into an empty output base, no lock: Nix evaluates and builds
 *   lock           `nixgen lock` (collects the records; timed for reference)
 *   first+lock     fetch after adding `lock = "//:nixstore.lock.json"` to every package
 *   refetch        `bazel sync --only=<each package>`, store populated, no lock: Nix evaluates
 *                  (and finds every output valid; nothing is built)
 *   refetch+lock   the same sync with the lock: the pinned paths are verified in the store,
 *                  no evaluation. The two refetches alternate, REPEATS times each.
 *
 * Refetches are what a team pays on every rules_nixstore upgrade, `bazel sync`, or change of
 * an input every package depends on; a fresh clone pays `cold` once per output base.
 * Medians over the REPEATS runs are reported. Every fetch must succeed.
 *
 *   node bench/lock-fast-path.mjs [--packages N] [--repeats N] [--keep]
 *
 * Needs `npm run build` (dist/), Bazel, Nix. Writes
 * bench/results/lock-fast-path.json.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FIXTURE, NIXGEN, REPO, die, machineInfo, median, r2, run, walk, which } from "./support.mjs";

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const PACKAGES = arg("--packages", 50);
const REPEATS = arg("--repeats", 5);
const KEEP = process.argv.includes("--keep");
if (PACKAGES < 1 || PACKAGES > 50) throw new Error("--packages must be 1..50 (the fixture has tiny01..tiny50)");





const names = Array.from({ length: PACKAGES }, (_, i) => `tiny${String(i + 1).padStart(2, "0")}`);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nixstore-bench-lock-"));
const ws = path.join(tmp, "ws");
const ob = path.join(tmp, "ob");
const counterBin = path.join(tmp, "counter");
// A machine cache of its own (not the user's): the cold phase then builds, as it must.
process.env.RULES_NIXSTORE_MACHINE_CACHE = path.join(tmp, "machine-cache");
const log = path.join(tmp, "evaluations.log");

function setup() {
  fs.mkdirSync(counterBin, { recursive: true });
  fs.writeFileSync(log, "");
  for (const cmd of ["nix-build", "nix-instantiate"]) {
    const real = which(cmd);
    fs.writeFileSync(path.join(counterBin, cmd), `#!/bin/sh\necho "${cmd} $*" >> '${log}'\nexec '${real}' "$@"\n`, { mode: 0o755 });
  }
  fs.cpSync(FIXTURE, path.join(ws, "nixpkgs"), { recursive: true });
  fs.writeFileSync(path.join(ws, "nixpkgs/BUILD.bazel"), `exports_files(glob(["**"]))\n`);
  fs.writeFileSync(path.join(ws, "BUILD.bazel"), "");
  const repoPath = `${counterBin}:${process.env.PATH}`;
  fs.writeFileSync(
    path.join(ws, ".bazelrc"),
    ["try-import %workspace%/.nixstore.bazelrc", ...["build", "sync", "query", "fetch"].map((c) => `${c} --repo_env=PATH=${repoPath}`), ""].join("\n"),
  );
  writeWorkspace(false);
  run("node", [NIXGEN, "bazelrc", "--workspace", ws, "--output-base", ob]);
}

/** @param {boolean} locked */
function writeWorkspace(locked) {
  const deps = walk(path.join(ws, "nixpkgs"))
    .map((f) => path.relative(path.join(ws, "nixpkgs"), f))
    .filter((f) => f !== "BUILD.bazel")
    .sort()
    .map((f) => JSON.stringify(`//nixpkgs:${f}`));
  const pkg = (n) =>
    `nixpkgs_package(name = "${n}", attribute_path = "${n}", repository = "@nixpkgs", ` +
    `nixopts = ["--option", "substituters", ""], quiet = True${locked ? `, lock = "//:nixstore.lock.json"` : ""})`;
  fs.writeFileSync(
    path.join(ws, "WORKSPACE"),
    [
      `workspace(name = "bench")`,
      `local_repository(name = "rules_nixstore", path = ${JSON.stringify(REPO)})`,
      `load("@rules_nixstore//rules:repositories.bzl", "rules_nixstore_dependencies")`,
      `rules_nixstore_dependencies()`,
      `load("@rules_nixstore//rules:defs.bzl", "nixpkgs_local_repository", "nixpkgs_package")`,
      `nixpkgs_local_repository(name = "nixpkgs", nix_file = "//nixpkgs:default.nix", nix_file_deps = [${deps.join(", ")}])`,
      ...names.map(pkg),
      "",
    ].join("\n"),
  );
}

function bazel(args) {
  return run("bazel", [`--output_base=${ob}`, "--max_idle_secs=600", ...args], { cwd: ws });
}

const evaluations = () => fs.readFileSync(log, "utf8").split("\n").filter(Boolean).length;

/** Times one phase; returns seconds and evaluations. @param {() => void} fn */
function phase(fn) {
  fs.writeFileSync(log, "");
  const t0 = process.hrtime.bigint();
  fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds: r2(seconds), evaluations: evaluations() };
}

const closures = names.map((n) => `@${n}//:closure`);
const syncArgs = ["sync", ...names.map((n) => `--only=${n}`)];

try {
  setup();
  bazel(["info", "output_base"]); // start the server outside the timings
  process.stderr.write(`cold fetch of ${PACKAGES} packages (no lock)...\n`);
  const cold = phase(() => bazel(["build", "--nobuild", ...closures]));
  process.stderr.write(`  cold: ${cold.seconds}s, ${cold.evaluations} evaluations\n`);

  const lockRun = phase(() => run("node", [NIXGEN, "lock", "--workspace", ws, "--output-base", ob], { cwd: ws }));
  process.stderr.write(`  nixgen lock: ${lockRun.seconds}s, ${lockRun.evaluations} evaluations\n`);
  writeWorkspace(true);
  // nixgen lock runs Bazel without --max_idle_secs; start our server again outside the timings
  bazel(["info", "output_base"]);
  const firstLocked = phase(() => bazel(["build", "--nobuild", ...closures]));
  process.stderr.write(`  first fetch with the lock: ${firstLocked.seconds}s, ${firstLocked.evaluations} evaluations\n`);

  // Refetches without and with the lock, interleaved so that load from other work on the
  // machine falls on both alike.
  /** @type {{seconds: number, evaluations: number}[]} */
  const plain = [];
  /** @type {{seconds: number, evaluations: number}[]} */
  const locked = [];
  for (let i = 0; i < REPEATS; i++) {
    for (const [withLock, runs] of /** @type {const} */ ([[false, plain], [true, locked]])) {
      writeWorkspace(withLock);
      const r = phase(() => bazel(syncArgs));
      process.stderr.write(`  refetch ${withLock ? "with" : "without"} lock #${i + 1}: ${r.seconds}s, ${r.evaluations} evaluations\n`);
      runs.push(r);
    }
  }
  if (locked.some((r) => r.evaluations !== 0)) die("a fetch with the lock ran a Nix evaluation");
  /** @param {{seconds: number, evaluations: number}[]} runs */
  const summary = (runs) => ({
    median_seconds: median(runs.map((r) => r.seconds)),
    runs_seconds: runs.map((r) => r.seconds),
    evaluations_per_run: runs.map((r) => r.evaluations),
  });
  const refetch = summary(plain);
  const refetchLocked = summary(locked);

  const result = {
    benchmark: "lock-fast-path",
    date: new Date().toISOString(),
    machine: machineInfo(),
    packages: PACKAGES,
    repeats: REPEATS,
    phases: {
      cold_no_lock: { ...cold, what: "first fetch into an empty output base, no lock (builds)" },
      refetch_no_lock: { ...refetch, what: "bazel sync --only=<each package>, store populated, no lock" },
      nixgen_lock: { ...lockRun, what: "nixgen lock (refetch with RULES_NIXSTORE_LOCK=update, collect, write)" },
      first_fetch_with_lock: { ...firstLocked, what: "fetch after adding lock = ... to every package (store populated)" },
      refetch_with_lock: { ...refetchLocked, what: "bazel sync --only=<each package>, store populated, with lock" },
    },
    speedup_refetch: r2(refetch.median_seconds / refetchLocked.median_seconds),
    // Each refetch without the lock minus the one with it that followed it (same load).
    paired_saving_seconds: refetch.runs_seconds.map((x, i) => r2(x - refetchLocked.runs_seconds[i])),
    median_paired_saving_seconds: median(refetch.runs_seconds.map((x, i) => r2(x - refetchLocked.runs_seconds[i]))),
  };
  fs.mkdirSync(path.join(REPO, "bench/results"), { recursive: true });
  fs.writeFileSync(path.join(REPO, "bench/results/lock-fast-path.json"), JSON.stringify(result, null, 2) + "\n");
  console.log(
    [
      `| phase (${PACKAGES} packages) | seconds | Nix evaluations |`,
      "| --- | ---: | ---: |",
      `| cold fetch, no lock | ${cold.seconds} | ${cold.evaluations} |`,
      `| refetch, no lock (median of ${REPEATS}) | ${refetch.median_seconds} | ${refetch.evaluations_per_run.join(", ")} |`,
      `| nixgen lock | ${lockRun.seconds} | ${lockRun.evaluations} |`,
      `| first fetch with the lock | ${firstLocked.seconds} | ${firstLocked.evaluations} |`,
      `| refetch, with lock (median of ${REPEATS}) | ${refetchLocked.median_seconds} | ${refetchLocked.evaluations_per_run.join(", ")} |`,
    ].join("\n"),
  );
} finally {
  spawnSync("bazel", [`--output_base=${ob}`, "shutdown"], { cwd: ws });
  if (KEEP) {
    process.stderr.write(`kept ${tmp}\n`);
  } else {
    spawnSync("chmod", ["-R", "u+w", tmp]);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
