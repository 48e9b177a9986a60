// The loopback Buildbarn cluster of test/buildbarn, as the remote tests and benchmarks use it:
// start it (or a variant of it), read its Prometheus metrics, kill its worker.
import { execa, type Result } from "execa";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./harness.js";

/** Where up.sh keeps state, pid files and logs (its default RUN_DIR). */
export const RUN_DIR = "/tmp/rules_nixstore-buildbarn";
export const LOGS = join(RUN_DIR, "logs");

/** Diagnostics ports (test/buildbarn/common.libsonnet): /-/healthy and /metrics. */
export const DIAG = { frontend: 9980, storage: 9981, scheduler: 9982, worker: 9986, runner: 9987 } as const;

/** Variants of the cluster up.sh can start (NIXSTORE_BB_* variables). */
export interface ClusterVariant {
  /** What actions see at /nix. */
  nix?: "absent" | "empty" | "host";
  /** Whether actions may create user namespaces. */
  userns?: "allowed" | "refused";
}

/** Runs up.sh: starts the cluster (building it on first use), or restarts what differs. */
export async function up(variant: ClusterVariant = {}): Promise<Result> {
  return execa("bash", [join(REPO_ROOT, "test/buildbarn/up.sh")], {
    all: true,
    reject: false,
    env: { NIXSTORE_BB_NIX: variant.nix ?? "absent", NIXSTORE_BB_USERNS: variant.userns ?? "allowed" },
  });
}

export async function down(): Promise<Result> {
  return execa("bash", [join(REPO_ROOT, "test/buildbarn/down.sh")], { all: true, reject: false });
}

/** Whether a cluster already answers (then tests leave it running when they finish). */
export async function isUp(): Promise<boolean> {
  const r = await execa("curl", ["-fsS", "--max-time", "2", `http://127.0.0.1:${DIAG.frontend}/-/healthy`], {
    reject: false,
  });
  return r.exitCode === 0;
}

/** The endpoint up.sh prints as its last line. */
export function endpointOf(result: Result): string {
  return String(result.stdout).trim().split("\n").pop() ?? "";
}

/** Sum of every sample of `name` on a process's /metrics whose labels include all of `labels`. */
export async function metric(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!res.ok) throw new Error(`GET http://127.0.0.1:${port}/metrics: ${res.status}`);
  let sum = 0;
  for (const line of (await res.text()).split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/**
 * Bytes clients wrote into the CAS: Bazel talks only to the frontend, whose CAS puts are
 * forwarded to the storage process (the worker writes outputs to storage directly, so they
 * are not counted here).
 */
export function casBytesUploaded(): Promise<number> {
  return metric(DIAG.frontend, "buildbarn_blobstore_blob_access_operations_blob_size_bytes_sum", {
    backend_type: "grpc",
    operation: "Put",
    storage_type: "cas",
  });
}

/** Calls of an REAPI Execution method (Execute, WaitExecution) that clients started. */
export function executionCalls(method: "Execute" | "WaitExecution"): Promise<number> {
  return metric(DIAG.frontend, "grpc_server_started_total", {
    grpc_method: method,
    grpc_service: "build.bazel.remote.execution.v2.Execution",
  });
}

/** Kills bb_worker with SIGKILL, as a crash would; `up()` then starts it alone again. */
export function killWorker(): number {
  const pid = Number(readFileSync(join(RUN_DIR, "pids/worker.pid"), "utf8").trim());
  process.kill(pid, "SIGKILL");
  return pid;
}

/** Times the scheduler ran a task again because the worker running it went away. */
export function schedulerTaskRetries(): Promise<number> {
  return metric(DIAG.scheduler, "buildbarn_builder_in_memory_build_queue_tasks_executing_retries_sum");
}
