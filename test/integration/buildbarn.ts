// The loopback Buildbarn cluster of test/buildbarn, as the remote tests and benchmarks use it:
// start it (or a variant of it), read its Prometheus metrics, kill its worker.
import { execa, type Result } from "execa";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect } from "node:http2";
import { join } from "node:path";
import { REPO_ROOT } from "./harness.js";

/** Where up.sh keeps state, pid files and logs (its default RUN_DIR). */
export const RUN_DIR = "/tmp/rules_nixstore-buildbarn";
export const LOGS = join(RUN_DIR, "logs");

/** The frontend's gRPC port, which Bazel talks to (test/buildbarn/common.libsonnet). */
export const GRPC_FRONTEND = 8980;

/** Diagnostics ports (test/buildbarn/common.libsonnet): /-/healthy and /metrics. */
export const DIAG = { frontend: 9980, storage: 9981, scheduler: 9982, worker: 9986, runner: 9987, runnerNix: 9988 } as const;

/**
 * The Nix pool's persistent store on the host (up.sh's NIXSTORE_BB_NIX_STORE): its `nix/` is
 * /nix for the pool's actions, and it outlives `down.sh` and `down.sh --clean`.
 */
export const NIX_POOL_STORE = process.env.NIXSTORE_BB_NIX_STORE ?? "/var/lib/rules_nixstore-buildbarn/nix-pool";

/** The exec properties that send an action to the Nix pool (and nothing else does). */
export const NIX_POOL_EXEC_PROPERTIES = { pool: "nix" } as const;

/** bb_worker's build directory (up.sh's NIXSTORE_BB_WORKER). */
export type WorkerKind = "native" | "fuse";

/**
 * The worker kind remote tests run against: NIXSTORE_TEST_BB_WORKER (native, up.sh's default,
 * unless it says fuse).
 */
export const TEST_WORKER: WorkerKind = workerKind(process.env.NIXSTORE_TEST_BB_WORKER ?? "native");

function workerKind(s: string): WorkerKind {
  if (s !== "native" && s !== "fuse") throw new Error(`NIXSTORE_TEST_BB_WORKER=${s}: say native or fuse`);
  return s;
}

/** Variants of the cluster up.sh can start (NIXSTORE_BB_* variables). */
export interface ClusterVariant {
  /** The worker's build directory (default: TEST_WORKER). */
  worker?: WorkerKind;
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
    env: {
      NIXSTORE_BB_WORKER: variant.worker ?? TEST_WORKER,
      NIXSTORE_BB_NIX: variant.nix ?? "absent",
      NIXSTORE_BB_USERNS: variant.userns ?? "allowed",
    },
  });
}

/**
 * Runs up.sh with its default settings (native worker): how other engineers' tests expect to
 * find the shared cluster when a suite that used a variant releases it.
 */
export async function upDefault(): Promise<Result> {
  return up({ worker: "native" });
}

export async function down(): Promise<Result> {
  return execa("bash", [join(REPO_ROOT, "test/buildbarn/down.sh")], { all: true, reject: false });
}

/**
 * What a suite does with the shared cluster when it finishes: stops it if the suite started it,
 * else starts it again with up.sh's default settings (a no-op when it runs with them), so that
 * a suite that ran on a variant (NIXSTORE_TEST_BB_WORKER=fuse, a ClusterVariant) leaves it as
 * other engineers' tests expect it.
 */
export async function release(startedHere: boolean): Promise<Result> {
  return startedHere ? down() : upDefault();
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

/**
 * Bytes clients read from the CAS through the frontend (ByteStream Read, BatchReadBlobs): what
 * Bazel downloads, e.g. a remote command's stdout.
 */
export function casBytesDownloaded(): Promise<number> {
  return metric(DIAG.frontend, "buildbarn_blobstore_blob_access_operations_blob_size_bytes_sum", {
    backend_type: "grpc",
    operation: "Get",
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

/** A CAS digest: the SHA-256 of a blob, in hex, and its size. */
export interface Digest {
  hash: string;
  sizeBytes: number;
}

/** The digest of `bytes`, as Bazel computes it for the CAS. */
export function digestOf(bytes: string | Buffer): Digest {
  const buf = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
  return { hash: createHash("sha256").update(buf).digest("hex"), sizeBytes: buf.length };
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

function field(tag: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), varint(bytes.length), bytes]);
}

/**
 * The digests among `digests` that the cluster's CAS does not hold: REAPI's FindMissingBlobs,
 * called on the frontend over HTTP/2 (gRPC framing, the two small protobuf messages written
 * by hand), as Bazel asks before it uploads.
 */
export async function findMissingBlobs(instanceName: string, digests: Digest[]): Promise<Digest[]> {
  const request = Buffer.concat([
    field(0x0a, Buffer.from(instanceName)),
    ...digests.map((d) => field(0x12, Buffer.concat([field(0x0a, Buffer.from(d.hash)), Buffer.from([0x10]), varint(d.sizeBytes)]))),
  ]);
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), request]);
  frame.writeUInt32BE(request.length, 1);
  const client = connect(`http://127.0.0.1:${GRPC_FRONTEND}`);
  try {
    const { body, status } = await new Promise<{ body: Buffer; status: string }>((resolve, reject) => {
      const req = client.request({
        ":method": "POST",
        ":path": "/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs",
        "content-type": "application/grpc",
        te: "trailers",
      });
      const chunks: Buffer[] = [];
      let status = "";
      req.on("response", (headers) => (status = String(headers["grpc-status"] ?? status)));
      req.on("trailers", (trailers) => (status = String(trailers["grpc-status"] ?? status)));
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => resolve({ body: Buffer.concat(chunks), status }));
      req.on("error", reject);
      req.end(frame);
    });
    if (status !== "0") throw new Error(`FindMissingBlobs: grpc-status ${status}`);
    return parseDigests(body.subarray(5));
  } finally {
    client.close();
  }
}

/** The `missing_blob_digests` (field 2) of a FindMissingBlobsResponse. */
function parseDigests(message: Buffer): Digest[] {
  const readVarint = (buf: Buffer, at: number): [number, number] => {
    let n = 0;
    let shift = 1;
    for (;;) {
      const b = buf[at++]!;
      n += (b & 0x7f) * shift;
      shift *= 128;
      if (b < 0x80) return [n, at];
    }
  };
  const fields = (buf: Buffer): Array<[number, Buffer | number]> => {
    const out: Array<[number, Buffer | number]> = [];
    let at = 0;
    while (at < buf.length) {
      let key: number;
      [key, at] = readVarint(buf, at);
      if ((key & 7) === 2) {
        let len: number;
        [len, at] = readVarint(buf, at);
        out.push([key >> 3, buf.subarray(at, at + len)]);
        at += len;
      } else {
        let value: number;
        [value, at] = readVarint(buf, at);
        out.push([key >> 3, value]);
      }
    }
    return out;
  };
  return fields(message)
    .filter(([n]) => n === 2)
    .map(([, digest]) => {
      const parts = fields(digest as Buffer);
      const hash = parts.find(([n]) => n === 1)?.[1] as Buffer;
      return { hash: hash.toString(), sizeBytes: Number(parts.find(([n]) => n === 2)?.[1] ?? 0) };
    });
}

/** A suite's hold on the cluster: its endpoint, and how to hand it back. */
export interface ClusterLease {
  readonly endpoint: string;
  /**
   * Stops the cluster if this suite started it; otherwise leaves it running with up.sh's default
   * settings (after a variant, or NIXSTORE_TEST_BB_WORKER=fuse).
   */
  release(): Promise<void>;
}

/**
 * Starts the default cluster for a suite (building Buildbarn from the Go module proxy on first
 * use, a few minutes), or takes the one that already answers, which someone else started and
 * which is then left running afterwards.
 */
export async function leaseCluster(): Promise<ClusterLease> {
  const startedHere = !(await isUp());
  const started = await up();
  if (started.exitCode !== 0) throw new Error(`buildbarn:up failed (logs: ${LOGS})\n${started.all}`);
  const endpoint = endpointOf(started);
  if (!/^grpc:\/\/127\.0\.0\.1:\d+$/.test(endpoint)) throw new Error(`buildbarn:up printed no endpoint:\n${started.all}`);
  return {
    endpoint,
    async release() {
      const r = await release(startedHere);
      if (r.exitCode !== 0) throw new Error(`buildbarn: giving the cluster back failed (logs: ${LOGS})\n${r.all}`);
    },
  };
}
