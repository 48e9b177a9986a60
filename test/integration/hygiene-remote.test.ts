// Closure hygiene and hostile executable names under remote execution, on the Buildbarn cluster
// of test/buildbarn (run it under `flock /tmp/nixstore-remote-tests.lock`). Actions that read
// the whole closure of `leaky` and run its launcher execute on the worker; the bytes of the host
// file and of the out-of-closure store path that its escaping symlinks point at (markers unique
// to this run) must not reach the CAS: FindMissingBlobs, asked for their digests after the
// build, reports both missing, and reports present what the closure does hold. The executables
// of `hostile` run on the worker under their own names.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { LOGS, digestOf, findMissingBlobs, leaseCluster, type ClusterLease } from "./buildbarn.js";
import { BAZEL7, FLAVORS, explain, makeWorkspace, processes, type Workspace } from "./harness.js";
import {
  LEAKY_BUILD,
  LEAKY_OUTPUT,
  RUN_EACH_BZL,
  hostileBuild,
  hostileOutput,
  leakyInputs,
  unlabelable,
  type LeakyInputs,
  HOSTILE_NAMES,
} from "./hygiene-support.js";

const INSTANCE = "nixstore";

// up.sh creates the runner's user and a mount namespace: it needs root (CI runs as root).
describe.runIf(process.getuid?.() === 0).each(FLAVORS)("closure hygiene on Buildbarn, $title", (flavor) => {
  const refused = unlabelable(flavor === BAZEL7);
  const runnable = HOSTILE_NAMES.filter((n) => !refused.includes(n));
  let ws: Workspace;
  let inputs: LeakyInputs;
  let endpoint = "";
  let cluster: ClusterLease | undefined;

  beforeAll(async () => {
    cluster = await leaseCluster();
    endpoint = cluster.endpoint;
    inputs = leakyInputs();
    ws = await makeWorkspace(flavor, {
      packages: [...inputs.packages, { name: "hostile" }],
      build: hostileBuild(runnable) + LEAKY_BUILD,
      files: { "run_each.bzl": RUN_EACH_BZL },
    });
    // The out-of-closure store path is in the output base's store before `leaky` is laid out.
    const secret = await ws.bazel(["build", "--nobuild", "@leaky_secret//:closure"]);
    expect(secret.exitCode, explain(secret)).toBe(0);
  });

  afterAll(async () => {
    await ws?.close();
    if (inputs) rmSync(inputs.dir, { recursive: true, force: true });
    await cluster?.release();
  });

  test("actions over the closure run on the worker; the outside bytes reach neither their outputs nor the CAS", async () => {
    const r = await ws.bazel([
      "build",
      `--remote_executor=${endpoint}`,
      `--remote_instance_name=${INSTANCE}`,
      "--spawn_strategy=remote",
      "--remote_local_fallback=false",
      "--noremote_accept_cached",
      "//:closure_bytes",
      "//:leaky_out",
      "//:hostile_runs",
    ]);
    expect(r.exitCode, `${explain(r)}\n(cluster logs: ${LOGS})`).toBe(0);
    expect(processes(r.all)).toMatch(/\d+ remote(,|\.|$)/);
    expect(processes(r.all)).not.toMatch(/linux-sandbox|local|processwrapper/);

    const bytes = readFileSync(join(ws.dir, "bazel-bin/closure_bytes.txt"), "latin1");
    expect(bytes).toContain("leaky own data");
    expect(bytes).not.toContain(inputs.hostBytes.trim());
    expect(bytes).not.toContain(inputs.secret);
    expect(ws.bin("leaky.txt")).toBe(LEAKY_OUTPUT);

    const outside = [digestOf(inputs.hostBytes), digestOf(inputs.secret)];
    const inside = [digestOf("leaky own data\n"), digestOf("leaky dir data\n")];
    const missing = (await findMissingBlobs(INSTANCE, [...outside, ...inside])).map((d) => d.hash);
    // The control: what the closure holds was uploaded, and the question reaches the CAS.
    for (const d of inside) expect(missing).not.toContain(d.hash);
    for (const d of outside) expect(missing).toContain(d.hash);
  });

  test("every executable of hostile that has a target runs on the worker under its own name, argv intact", () => {
    runnable.forEach((name, i) => {
      expect(readFileSync(join(ws.dir, `bazel-bin/hostile_runs/${i}.txt`), "utf8"), name).toBe(hostileOutput(name));
    });
  });
});
