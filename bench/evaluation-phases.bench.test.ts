// The fetch phases of 50 packages from one nixpkgs whose evaluation is expensive, on Bazel 4.2.3
// + Nix 2.8 (WORKSPACE) and Bazel 7.7.1 + Nix 2.34 (bzlmod): the table of issue 10, redone for
// rules_nixstore. Written as a vitest file to share the integration harness.
//
//   npx vitest run --config bench/vitest.config.ts bench/evaluation-phases.bench.test.ts
//   (BENCH_RUNS=N, default 2; NIXSTORE_TEST_BAZEL=4,7 picks the machines)
//
// The nixpkgs is the test fixture (tiny01..tiny50: a busybox shell script each) behind a
// default.nix that first sums the integers below BURN (builtins.foldl' over builtins.genList),
// which costs about 0.7 s of CPU per Nix process on this machine, like a small real nixpkgs
// (1-5 s). The cost is measured as the median of 5 `nix-instantiate --eval` runs of the burn
// alone, and reported. Evaluations are counted by wrappers around nix-build and
// nix-instantiate (test/integration/lock-support.ts). Phases, each run BENCH_RUNS times:
//
//   expunge+fetch   `bazel clean --expunge`, then fetch all 50 (their outputs were built before)
//   expunge+build   a new salt (every package a new derivation), `clean --expunge`, then
//                   build a target that uses all 50: evaluation and 50 Nix builds
//   sync            refetch all 50 with the store populated (`bazel sync` on Bazel 4; on
//                   Bazel 7, whose module repositories `bazel sync` skips, `bazel fetch --force`)
//   no-op           the same build again: nothing to do
//
// Writes bench/results/evaluation-phases.json.
import { afterAll, expect, test } from "vitest";
import { cpus, loadavg } from "node:os";
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FLAVORS, REPO_ROOT, explain, makeWorkspace, type PackageSpec, type Workspace } from "../test/integration/harness.js";
import { makeEvalCounter, useEvalCounter, type EvalCounter } from "../test/integration/lock-support.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const RESULTS = join(REPO_ROOT, "bench/results/evaluation-phases.json");
const BURN = 1_500_000;
const TINY = Array.from({ length: 50 }, (_, i) => `tiny${String(i + 1).padStart(2, "0")}`);
const PACKAGES: PackageSpec[] = TINY.map((name) => ({ name }));

// Every package a new derivation when salt.txt changes: the same builder, one more attribute.
const SLOW_DEFAULT_NIX = `# The fixture nixpkgs, made as expensive to evaluate as a small real nixpkgs.
args:
let
  burn = builtins.foldl' builtins.add 0 (builtins.genList (x: x) ${BURN});
  real = import ./real.nix args;
  salt = builtins.readFile ./salt.txt;
  tiny = builtins.filter (n: builtins.substring 0 4 n == "tiny") (builtins.attrNames real);
  salted = name: { inherit name; value = builtins.derivation (real.\${name}.drvAttrs // { inherit salt; }); };
in
builtins.seq burn (real // builtins.listToAttrs (map salted tiny))
`;

const BUILD = `
genrule(
    name = "all",
    outs = ["all.txt"],
    tools = [${TINY.map((n) => `"@${n}//:bin/${n}"`).join(", ")}],
    cmd = " && ".join(["$(location @{0}//:bin/{0}) >> $@".format(n) for n in [${TINY.map((n) => `"${n}"`).join(", ")}]]),
)
`;

const results: Record<string, unknown> = {};
const workspaces: Workspace[] = [];

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;
const round = (x: number) => Number(x.toFixed(2));
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

afterAll(async () => {
  for (const ws of workspaces) await ws.close();
  writeFileSync(
    RESULTS,
    JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, runs: RUNS, burn: BURN, results }, null, 2) + "\n",
  );
});

/** Median wall time of `nix-instantiate --eval` of the burn alone: the cost each evaluation pays. */
async function burnCost(ws: Workspace): Promise<number> {
  ws.write("burn.nix", `builtins.seq (builtins.foldl' builtins.add 0 (builtins.genList (x: x) ${BURN})) 1\n`);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = process.hrtime.bigint();
    const r = await ws.run(["nix-instantiate", "--eval", join(ws.dir, "burn.nix")]);
    expect(r.exitCode, explain(r)).toBe(0);
    times.push(seconds(start));
  }
  return round(median(times));
}

/** Runs a timed Bazel command that must succeed; returns seconds and evaluations. */
async function phase(ws: Workspace, counter: EvalCounter, args: string[]): Promise<{ s: number; evaluations: number }> {
  counter.reset();
  const start = process.hrtime.bigint();
  const r = await ws.bazel(args);
  const s = seconds(start);
  expect(r.exitCode, explain(r)).toBe(0);
  return { s: round(s), evaluations: counter.count() };
}

test.each(FLAVORS)("fetch phases of 50 packages with a ~0.7 s evaluation, $title", async (flavor) => {
  const ws = await makeWorkspace(flavor, { packages: PACKAGES, build: BUILD });
  workspaces.push(ws);
  renameSync(join(ws.dir, "nixpkgs/default.nix"), join(ws.dir, "nixpkgs/real.nix"));
  ws.write("nixpkgs/default.nix", SLOW_DEFAULT_NIX);
  ws.write("nixpkgs/salt.txt", "0");
  ws.writePackages(PACKAGES);
  const counter = makeEvalCounter(join(ws.root, "counter"), flavor);
  useEvalCounter(ws, counter);
  const fetchAll = ["build", "--nobuild", ...TINY.map((n) => `@${n}//:closure`)];
  const sync = flavor.bzlmod ? ["fetch", "--force", ...TINY.map((n) => `--repo=@${n}`)] : ["sync", ...TINY.map((n) => `--only=${n}`)];
  const expunge = async () => expect((await ws.bazel(["clean", "--expunge"])).exitCode).toBe(0);

  const first = await phase(ws, counter, ["build", "//:all"]);
  const runs: Record<string, { s: number; evaluations: number }[]> = { "expunge+fetch": [], "expunge+build": [], sync: [], "no-op": [] };
  for (let i = 1; i <= RUNS; i++) {
    await expunge();
    runs["expunge+fetch"]!.push(await phase(ws, counter, fetchAll));
    ws.write("nixpkgs/salt.txt", String(i));
    await expunge();
    runs["expunge+build"]!.push(await phase(ws, counter, ["build", "//:all"]));
    runs.sync!.push(await phase(ws, counter, sync));
    await phase(ws, counter, ["build", "//:all"]);
    runs["no-op"]!.push(await phase(ws, counter, ["build", "//:all"]));
  }
  const summary = Object.fromEntries(
    Object.entries(runs).map(([k, v]) => [k, { s: round(median(v.map((x) => x.s))), evaluations: v.map((x) => x.evaluations), runs: v.map((x) => x.s) }]),
  );
  results[flavor.title] = { evaluationCost: await burnCost(ws), firstBuild: first, load: loadavg().map(round), phases: summary };
  console.log(flavor.title, JSON.stringify(results[flavor.title], null, 2));
  // 1 evaluation for the 50 packages wherever Nix evaluates at all.
  for (const name of ["expunge+fetch", "expunge+build", "sync"]) expect(summary[name]!.evaluations.every((n) => n === 1)).toBe(true);
  expect(summary["no-op"]!.evaluations.every((n) => n === 0)).toBe(true);
});
