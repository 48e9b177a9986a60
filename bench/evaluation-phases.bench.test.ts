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
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FLAVORS, REPO_ROOT, explain, makeWorkspace, type PackageSpec, type Workspace } from "../test/integration/harness.js";
import { makeEvalCounter, nixgenLock, useEvalCounter, type EvalCounter } from "../test/integration/lock-support.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const RESULTS = join(REPO_ROOT, "bench/results/evaluation-phases.json");
const BURN = 3_000_000;
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

/** A genrule that runs every package of `names`. */
function buildOf(names: readonly string[]): string {
  return `
genrule(
    name = "all",
    outs = ["all.txt"],
    tools = [${names.map((n) => `"@${n}//:bin/${n}"`).join(", ")}],
    cmd = " && ".join(["$(location @{0}//:bin/{0}) >> $@".format(n) for n in [${names.map((n) => `"${n}"`).join(", ")}]]),
)
`;
}
const BUILD = buildOf(TINY);

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
  // Results of runs not made this time (another Bazel, BENCH_LABEL) are kept.
  const previous = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, "utf8")) as { results?: Record<string, unknown> }).results : {};
  writeFileSync(
    RESULTS,
    JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, runs: RUNS, burn: BURN, results: { ...previous, ...results } }, null, 2) + "\n",
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

/** The declarations measured: nixpkgs_packages / the extension's tags, and (WORKSPACE) a nixpkgs_package call each. */
const FORMS = [
  { form: "grouped", separate: false },
  { form: "separate calls", separate: true },
];

/** Goals of issue 17, as multiples of E (the evaluation's cost measured in the same run). */
const GOALS: Record<string, number> = { "expunge+fetch": 10, "expunge+fetch (lock)": 7, sync: 7, "expunge+build": 25 };

test.each(FLAVORS.flatMap((flavor) => FORMS.filter((f) => !(flavor.bzlmod && f.separate)).map((f) => ({ flavor, ...f }))))(
  "fetch phases of 50 packages with a ~0.7 s evaluation, $flavor.title, $form",
  async ({ flavor, form, separate }) => {
    const ws = await makeWorkspace(flavor, { packages: PACKAGES, build: BUILD, separate, files: { "nixstore.lock.json": "{}\n" } });
    workspaces.push(ws);
    renameSync(join(ws.dir, "nixpkgs/default.nix"), join(ws.dir, "nixpkgs/real.nix"));
    ws.write("nixpkgs/default.nix", SLOW_DEFAULT_NIX);
    ws.write("nixpkgs/salt.txt", "0");
    ws.writePackages(PACKAGES);
    const counter = makeEvalCounter(join(ws.root, "counter"), flavor);
    useEvalCounter(ws, counter);
    const fetchAll = ["build", "--nobuild", ...TINY.map((n) => `@${n}//:closure`)];
    const sync = ws.refetchArgs(TINY);
    const expunge = async () => expect((await ws.bazel(["clean", "--expunge"])).exitCode).toBe(0);
    const locked = PACKAGES.map((p) => ({ ...p, extra: 'lock = "//:nixstore.lock.json"' }));

    const first = await phase(ws, counter, ["build", "//:all"]);
    const runs: Record<string, { s: number; evaluations: number }[]> = {
      "expunge+fetch": [],
      "expunge+fetch (lock)": [],
      sync: [],
      "expunge+build": [],
      "no-op (50)": [],
    };
    for (let i = 1; i <= RUNS; i++) {
      await expunge();
      runs["expunge+fetch"]!.push(await phase(ws, counter, fetchAll));
      runs.sync!.push(await phase(ws, counter, sync));
      // Locked: the lock of what is built now, then a fresh output base.
      rmSync(join(ws.dir, "nixstore.lock.json"), { force: true });
      const lock = await nixgenLock(ws);
      expect(lock.exitCode, explain(lock)).toBe(0);
      ws.writePackages(locked);
      await expunge();
      runs["expunge+fetch (lock)"]!.push(await phase(ws, counter, fetchAll));
      ws.writePackages(PACKAGES);
      // 50 new derivations: a new salt, then a fresh output base builds them.
      ws.write("nixpkgs/salt.txt", String(i));
      await expunge();
      runs["expunge+build"]!.push(await phase(ws, counter, ["build", "//:all"]));
      await phase(ws, counter, ["build", "//:all"]);
      runs["no-op (50)"]!.push(await phase(ws, counter, ["build", "//:all"]));
    }
    // The no-op build with 5 packages: it must not grow with the count.
    ws.writePackages(PACKAGES.slice(0, 5));
    ws.write("BUILD.bazel", buildOf(TINY.slice(0, 5)));
    await phase(ws, counter, ["build", "//:all"]);
    const noop5: { s: number; evaluations: number }[] = [];
    for (let i = 1; i <= RUNS; i++) noop5.push(await phase(ws, counter, ["build", "//:all"]));
    runs["no-op (5)"] = noop5;

    const E = await burnCost(ws);
    const summary = Object.fromEntries(
      Object.entries(runs).map(([k, v]) => {
        const s = round(median(v.map((x) => x.s)));
        return [k, { s, E: round(s / E), goalE: GOALS[k] ?? null, evaluations: v.map((x) => x.evaluations), runs: v.map((x) => x.s) }];
      }),
    );
    const key = `${flavor.title}, ${form}`;
    results[key] = { evaluationCost: E, firstBuild: first, load: loadavg().map(round), phases: summary };
    console.log(key, JSON.stringify(results[key], null, 2));
    // Nothing evaluates where the machine's evaluation cache or the lock knows the packages; one
    // evaluation (for all 50) where their inputs changed.
    for (const name of ["expunge+fetch", "expunge+fetch (lock)", "sync", "no-op (50)", "no-op (5)"]) {
      expect(summary[name]!.evaluations.every((n) => n === 0), name).toBe(true);
    }
    expect(summary["expunge+build"]!.evaluations.every((n) => n === 1)).toBe(true);
  },
);

// Issue 17's item 4: the 5,120-file package (`manyfiles`): clean --expunge, then its fetch with
// the machine cache warm, and a no-op build. Run on a commit before the fast fetch and after it
// (BENCH_LABEL names the run in the results).
test.each(FLAVORS)("the 5,120-file package: expunge+fetch with a warm machine cache, and a no-op build, $title", async (flavor) => {
  const ws = await makeWorkspace(flavor, {
    packages: [{ name: "manyfiles" }],
    build: `genrule(name = "count", outs = ["count.txt"], tools = ["@manyfiles//:bin/count-files"], cmd = "$(location @manyfiles//:bin/count-files) > $@")\n`,
  });
  workspaces.push(ws);
  const counter = makeEvalCounter(join(ws.root, "counter"), flavor);
  useEvalCounter(ws, counter);
  expect((await ws.bazel(["build", "//:count"])).exitCode).toBe(0);
  const fetches: number[] = [];
  const noops: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    expect((await ws.bazel(["clean", "--expunge"])).exitCode).toBe(0);
    fetches.push((await phase(ws, counter, ["build", "--nobuild", "@manyfiles//:closure"])).s);
    await phase(ws, counter, ["build", "//:count"]);
    noops.push((await phase(ws, counter, ["build", "//:count"])).s);
  }
  const key = `${flavor.title}, manyfiles, ${process.env.BENCH_LABEL ?? "this commit"}`;
  results[key] = { expungeFetch: { s: round(median(fetches)), runs: fetches }, noop: { s: round(median(noops)), runs: noops }, load: loadavg().map(round) };
  console.log(key, JSON.stringify(results[key]));
});

// Bazel's own floor for the figures above: `clean --expunge`, then fetch 50 repositories whose
// rule does nothing but link one directory of 37 files and write a BUILD file with the same
// `closure` glob (no process, no Nix), declared as the packages are (WORKSPACE on Bazel 4.2.3,
// a module extension on Bazel 7.7.1). What rules_nixstore adds is the difference.
const TRIVIAL_RULE = `
def _trivial_impl(ctx):
    ctx.symlink(ctx.attr.dir, "nix/store/" + ctx.attr.name)
    ctx.file("BUILD.bazel", 'filegroup(name = "closure", srcs = glob(["nix/store/**"]), visibility = ["//visibility:public"])\\n')
    ctx.file("WORKSPACE", "")

trivial = repository_rule(implementation = _trivial_impl, attrs = {"dir": attr.string()})
`;
const TRIVIAL_EXTENSION = `
def _ext_impl(_ctx):
    for i in range(1, 51):
        trivial(name = ("tiny0" if i < 10 else "tiny") + str(i), dir = DIR)

ext = module_extension(implementation = _ext_impl)
`;

test.each(FLAVORS)("Bazel's floor: 50 repositories that link a directory and write a BUILD file, $title", async (flavor) => {
  const ws = await makeWorkspace(flavor, { packages: [], build: "" });
  workspaces.push(ws);
  const dir = join(ws.root, "closure");
  for (let i = 0; i < 36; i++) ws.write(`../closure/bin/f${i}`, `${i}\n`);
  ws.write("../closure/share/x", "x\n");
  ws.write("trivial.bzl", `DIR = ${JSON.stringify(dir)}\n${TRIVIAL_RULE}${flavor.bzlmod ? TRIVIAL_EXTENSION : ""}`);
  ws.write("BUILD.bazel", "");
  if (flavor.bzlmod) {
    ws.write("MODULE.bazel", `ext = use_extension("//:trivial.bzl", "ext")\nuse_repo(ext, ${TINY.map((n) => JSON.stringify(n)).join(", ")})\n`);
  } else {
    ws.write("WORKSPACE", `load("//:trivial.bzl", "trivial")\n${TINY.map((n) => `trivial(name = "${n}", dir = ${JSON.stringify(dir)})`).join("\n")}\n`);
  }
  const fetchAll = ["build", "--nobuild", ...TINY.map((n) => `@${n}//:closure`)];
  const times: number[] = [];
  for (let i = 0; i < Math.max(RUNS, 3); i++) {
    expect((await ws.bazel(["clean", "--expunge"])).exitCode).toBe(0);
    const start = process.hrtime.bigint();
    const r = await ws.bazel(fetchAll);
    times.push(round(seconds(start)));
    expect(r.exitCode, explain(r)).toBe(0);
  }
  const key = `${flavor.title}, Bazel's floor (50 trivial repositories)`;
  results[key] = { "expunge+fetch": { s: round(median(times)), runs: times }, load: loadavg().map(round) };
  console.log(key, JSON.stringify(results[key]));
});
