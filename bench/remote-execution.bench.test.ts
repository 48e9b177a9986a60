// Remote execution benchmarks on the loopback Buildbarn cluster (test/buildbarn), with real
// Bazel 4.2.3 and Nix; written as vitest files to share the integration harness.
//
//   sudo npx vitest run --config bench/vitest.config.ts bench/remote-execution.bench.test.ts
//   (BENCH_RUNS=N, default 3)
//
// examples/remote-buildbarn, remote (--config=nixstore-remote) versus the linux-sandbox, from a
// clean output base each time: wall time of the fetch (Nix builds into the output base's store,
// launchers compiled) and of `bazel test //...`, and the bytes Bazel uploaded to the CAS, with
// the cluster's CAS empty (cold) and already holding the closures (warm).
// (The 5,120-file tool versus a small tool, per worker kind and Bazel version, is
// remote-big-closure.bench.test.ts.)
//
// Writes bench/results/remote-execution.json. Needs root (the cluster), and empties the
// cluster's CAS (down.sh --clean) for the cold runs.
import { afterAll, beforeAll, expect, test } from "vitest";
import { execa } from "execa";
import { cpus, loadavg, release } from "node:os";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { casBytesUploaded, down, endpointOf, up } from "../test/integration/buildbarn.js";
import { REPO_ROOT, copyExample, explain, nixgenBazelrc, processes } from "../test/integration/harness.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RESULTS = join(REPO_ROOT, "bench/results/remote-execution.json");

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
  expect(started.exitCode, String(started.all)).toBe(0);
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
    expect(started.exitCode, String(started.all)).toBe(0);
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
