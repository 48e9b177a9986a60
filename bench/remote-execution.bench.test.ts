// Remote execution benchmarks on the loopback Buildbarn cluster (test/buildbarn), with real
// Bazel 4.2.3 and Nix; written as vitest files to share the integration harness.
//
//   sudo npx vitest run --config bench/vitest.config.ts bench/remote-execution.bench.test.ts
//   (BENCH_RUNS=N, default 3)
//
// 1. examples/remote-buildbarn, remote (--config=nixstore-remote) versus the linux-sandbox,
//    from a clean output base each time: wall time of the fetch (Nix builds into the output
//    base's store, launchers compiled) and of `bazel test //...`, and the bytes Bazel uploaded
//    to the CAS, with the cluster's CAS empty (cold) and already holding the closures (warm).
// 2. The 5,120-file fixture package `manyfiles` as the tool of 50 remote actions versus the
//    small `hello` as the tool of 50 otherwise identical actions: wall time, and where it goes
//    (Bazel's profile on the client: Merkle trees, uploads, remote execution; bb_worker's
//    stages: fetching inputs, running, uploading outputs).
//
// Writes bench/results/remote-execution.json. Needs root (the cluster), and empties the
// cluster's CAS (down.sh --clean) for the cold runs.
import { afterAll, beforeAll, expect, test } from "vitest";
import { execa } from "execa";
import { cpus, loadavg, release } from "node:os";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DIAG, casBytesUploaded, down, endpointOf, metric, up } from "../test/integration/buildbarn.js";
import {
  BAZEL4,
  REPO_ROOT,
  copyExample,
  explain,
  makeWorkspace,
  nixgenBazelrc,
  processes,
  type Workspace,
} from "../test/integration/harness.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RESULTS = join(REPO_ROOT, "bench/results/remote-execution.json");
const ACTIONS = 50;

const results: Record<string, unknown> = {};
const roots: string[] = [];

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const round = (x: number, digits = 2) => Number(x.toFixed(digits));

beforeAll(async () => {
  const started = await up();
  expect(started.exitCode, started.all).toBe(0);
  expect(endpointOf(started)).toBe("grpc://127.0.0.1:8980");
});

afterAll(async () => {
  for (const root of roots) {
    await execa("bazel", [`--output_base=${join(root, "ob")}`, "shutdown"], { cwd: join(root, "ws"), reject: false });
    await execa("rm", ["-rf", root], { reject: false });
  }
  mkdirSync(join(REPO_ROOT, "bench/results"), { recursive: true });
  const machine = {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    kernel: release(),
    node: process.version,
    loadavg_at_end: loadavg().map((x) => round(x)),
  };
  writeFileSync(
    RESULTS,
    JSON.stringify({ benchmark: "remote-execution", date: new Date().toISOString(), runs: RUNS, machine, ...results }, null, 2) + "\n",
  );
});

interface ExampleRun {
  mode: string;
  fetch_s: number;
  test_s: number;
  total_s: number;
  uploaded_bytes: number | null;
  processes: string;
}

/** One clean-output-base run of examples/remote-buildbarn: fetch, then `bazel test //...`. */
async function exampleRun(mode: "local-sandbox" | "remote-cold" | "remote-warm"): Promise<ExampleRun> {
  const root = mkdtempSync(join(tmpdir(), "nixstore-bench-"));
  roots.push(root);
  const ws = join(root, "ws");
  const ob = join(root, "ob");
  copyExample("remote-buildbarn", ws);
  await nixgenBazelrc(ws, ob);
  const bazel = (args: string[]) =>
    execa("bazel", [`--output_base=${ob}`, ...args], { cwd: ws, reject: false, all: true, stdin: "ignore" });
  const remote = mode === "local-sandbox" ? [] : ["--config=nixstore-remote"];
  if (mode === "remote-cold") {
    // An empty CAS and action cache: everything is uploaded and executed.
    await down();
    await execa("rm", ["-rf", "/tmp/rules_nixstore-buildbarn/storage"]);
    const started = await up();
    expect(started.exitCode, started.all).toBe(0);
  }
  // Fetch and analysis: every package built into the output base's store.
  let t = process.hrtime.bigint();
  const fetched = await bazel(["build", "--nobuild", ...remote, "//..."]);
  const fetch_s = seconds(t);
  expect(fetched.exitCode, explain(fetched)).toBe(0);
  const before = mode === "local-sandbox" ? 0 : await casBytesUploaded();
  t = process.hrtime.bigint();
  // Warm: the closures are in the CAS, but no action result is taken from the cache.
  const r = await bazel(["test", ...remote, ...(mode === "remote-warm" ? ["--noremote_accept_cached"] : []), "//..."]);
  const test_s = seconds(t);
  expect(r.exitCode, explain(r)).toBe(0);
  const summary = processes(r.all);
  expect(summary).toMatch(mode === "local-sandbox" ? /linux-sandbox/ : /\b4 remote(,|\.|$)/);
  const uploaded_bytes = mode === "local-sandbox" ? null : (await casBytesUploaded()) - before;
  await bazel(["shutdown"]);
  return { mode, fetch_s: round(fetch_s), test_s: round(test_s), total_s: round(fetch_s + test_s), uploaded_bytes, processes: summary };
}

test("examples/remote-buildbarn: remote versus linux-sandbox, clean output base", async () => {
  const runs: ExampleRun[] = [];
  for (let i = 0; i < RUNS; i++) {
    runs.push(await exampleRun("local-sandbox"));
    runs.push(await exampleRun("remote-cold"));
    runs.push(await exampleRun("remote-warm"));
  }
  const summary = Object.fromEntries(
    ["local-sandbox", "remote-cold", "remote-warm"].map((mode) => {
      const of = runs.filter((r) => r.mode === mode);
      return [
        mode,
        {
          fetch_s_median: round(median(of.map((r) => r.fetch_s))),
          test_s_median: round(median(of.map((r) => r.test_s))),
          total_s_median: round(median(of.map((r) => r.total_s))),
          uploaded_bytes_median: of[0]!.uploaded_bytes === null ? null : median(of.map((r) => r.uploaded_bytes!)),
        },
      ];
    }),
  );
  results.example = { targets: "//... of examples/remote-buildbarn (3 genrules/tests, 4 actions)", runs, summary };
  console.table(summary);
});

/** 50 genrules that each run `tool` once, made unique by `nonce` so that none is cached. */
function genrules(prefix: string, tool: string, nonce: string): string {
  const names = Array.from({ length: ACTIONS }, (_, i) => `${prefix}${i}`);
  return (
    names
      .map(
        (name, i) => `genrule(
    name = "${name}",
    outs = ["${name}.txt"],
    tools = ["${tool}"],
    cmd = "$(location ${tool}) > $@ && echo ${i} ${nonce} >> $@",
)
`,
      )
      .join("\n") + `\nfilegroup(name = "${prefix}", srcs = [${names.map((n) => `":${n}"`).join(", ")}])\n`
  );
}

/** Sums of Bazel profile events (ms) by what they are, for the remote part of a build. */
function profileBreakdown(file: string): Record<string, number> {
  const data = JSON.parse(readFileSync(file, "utf8")) as { traceEvents?: Array<Record<string, unknown>> };
  const sums: Record<string, number> = {};
  for (const e of data.traceEvents ?? []) {
    if (e.ph !== "X" || typeof e.dur !== "number") continue;
    const name = String(e.name);
    const key = name.startsWith("MerkleTree.build")
      ? "merkle_tree_ms"
      : /upload/i.test(name)
        ? "upload_ms"
        : name === "execute remotely"
          ? "execute_remotely_ms"
          : name === "download outputs"
            ? "download_outputs_ms"
            : name.startsWith("Creating runfiles tree")
              ? "runfiles_tree_ms"
              : null;
    if (key) sums[key] = (sums[key] ?? 0) + e.dur / 1000;
  }
  return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, round(v, 1)]));
}

/** bb_worker's time per stage (seconds, summed over actions) since `before`. */
async function workerStages(before?: Record<string, number>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const stage of ["FetchingInputs", "Running", "UploadingOutputs"]) {
    const v = await metric(DIAG.worker, "buildbarn_builder_build_executor_duration_seconds_sum", { stage });
    out[stage] = round(v - (before?.[stage] ?? 0), 3);
  }
  return out;
}

test(`the 5,120-file package as the tool of ${ACTIONS} remote actions versus a small tool`, async () => {
  let ws: Workspace | undefined;
  try {
    ws = await makeWorkspace(BAZEL4, { packages: [{ name: "manyfiles" }, { name: "hello" }], build: "" });
    const remote = [
      "--remote_executor=grpc://127.0.0.1:8980",
      "--remote_instance_name=nixstore",
      "--spawn_strategy=remote",
      "--remote_local_fallback=false",
      "--jobs=8",
    ];
    const w = ws;
    const phase = async (label: string, target: string) => {
      const profile = join(w.root, `${label}.profile.json`);
      const stages = await workerStages();
      const uploadedBefore = await casBytesUploaded();
      const t = process.hrtime.bigint();
      const r = await w.bazel(["build", ...remote, `--profile=${profile}`, target]);
      const wall_s = seconds(t);
      expect(r.exitCode, explain(r)).toBe(0);
      expect(processes(r.all)).toMatch(new RegExp(`\\b${ACTIONS} remote(,|\\.|$)`));
      return {
        wall_s: round(wall_s),
        uploaded_bytes: (await casBytesUploaded()) - uploadedBefore,
        client_profile: profileBreakdown(profile),
        worker_stage_s: await workerStages(stages),
      };
    };
    const measured: Array<Record<string, unknown>> = [];
    // Run 0 is cold: the cluster's CAS does not hold manyfiles' closure yet.
    await down();
    await execa("rm", ["-rf", "/tmp/rules_nixstore-buildbarn/storage"]);
    expect((await up()).exitCode).toBe(0);
    for (let run = 0; run <= RUNS; run++) {
      const nonce = `${process.pid}-${Date.now()}-${run}`;
      w.write("BUILD.bazel", genrules("big", "@manyfiles//:bin/count-files", nonce) + "\n" + genrules("small", "@hello//:bin/hello", nonce));
      const analysed = await w.bazel(["build", "--nobuild", ...remote, "//:big", "//:small"]);
      expect(analysed.exitCode, explain(analysed)).toBe(0);
      const big = await phase(`big-${run}`, "//:big");
      const small = await phase(`small-${run}`, "//:small");
      expect(w.bin("big0.txt")).toBe(`5120\n0 ${nonce}\n`);
      expect(w.bin("small0.txt")).toBe(`hello from nix\n0 ${nonce}\n`);
      measured.push({ run, cold: run === 0, big, small, ratio: round(big.wall_s / small.wall_s) });
    }
    const warm = measured.filter((m) => !m.cold);
    const wall = (m: Record<string, unknown>, k: "big" | "small") => (m[k] as { wall_s: number }).wall_s;
    const summary = {
      cold_ratio: measured[0]!.ratio,
      warm_big_wall_s_median: round(median(warm.map((m) => wall(m, "big")))),
      warm_small_wall_s_median: round(median(warm.map((m) => wall(m, "small")))),
      warm_ratio_median: round(median(warm.map((m) => m.ratio as number))),
    };
    results.manyfiles = {
      actions: ACTIONS,
      big_tool: "@manyfiles//:bin/count-files (closure: manyfiles 5,120 files + busybox)",
      small_tool: "@hello//:bin/hello (closure: hello, libgreet, glibc)",
      runs: measured,
      summary,
    };
    console.log(JSON.stringify(results.manyfiles, null, 2));
  } finally {
    await ws?.close();
  }
});
