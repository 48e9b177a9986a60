// The Nix pool of the loopback Buildbarn cluster (test/buildbarn/up.sh starts it by default):
// actions whose exec properties are exactly {"pool": "nix"} run on a second runner that sees
// the host's Debian Nix on PATH and a persistent single-user store at /nix, shared by the pool's
// runners and kept across restarts; every other action still runs on the Nix-free pool.
// Real Bazel, real Buildbarn, real nix-build of a busybox derivation of the fixture nixpkgs.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  LOGS,
  NIX_POOL_EXEC_PROPERTIES,
  NIX_POOL_STORE,
  RUN_DIR,
  down,
  endpointOf,
  leaseCluster,
  up,
  type ClusterLease,
} from "./buildbarn.js";
import { FLAVORS, explain, makeWorkspace, processes, type Workspace } from "./harness.js";

// A derivation built by the fixture's busybox (offline), named after a nonce so that each run
// builds a store path no earlier run made. It records whether Nix's sandbox hid the host's /usr.
const PROBE_NIX = `{ nonce }:
let pkgs = import ./nixpkgs { }; in
derivation {
  name = "nix-pool-probe-\${nonce}";
  system = "x86_64-linux";
  builder = "\${pkgs.busybox}/bin/sh";
  args = [ "-c" "(echo built \${nonce}; test -e /usr && echo usr-visible || echo usr-hidden; sleep 2) > $out" ];
}
`;

const POOL = JSON.stringify(NIX_POOL_EXEC_PROPERTIES);

// The nonce reaches the actions through a file, so that a new nonce means new action keys.
const BUILD = `
# On the Nix pool: the runner's user, the action's NIX_CONF_DIR, a real nix-build and what its
# output says, nix-store --version.
genrule(
    name = "on_pool",
    srcs = ["probe.nix", "nonce.txt", "//nixpkgs:default.nix"],
    outs = ["on_pool.txt"],
    exec_properties = ${POOL},
    cmd = "id -u > $@ && echo $$NIX_CONF_DIR >> $@ && " +
          "p=$$(nix-build --no-out-link ./$(location probe.nix) --argstr nonce $$(cat $(location nonce.txt))) && " +
          "echo $$p >> $@ && cat $$p >> $@ && nix-store --version >> $@",
)

# Two actions at once on the pool's two runners, building the same new derivation in the one
# single-user store (Nix's path locks make one wait for the other). Each records when it ran.
[genrule(
    name = "twin_%d" % i,
    srcs = ["probe.nix", "nonce.txt", "//nixpkgs:default.nix"],
    outs = ["twin_%d.txt" % i],
    exec_properties = ${POOL},
    cmd = "date +%s%N > $@ && " +
          "nix-build --no-out-link ./$(location probe.nix) --argstr nonce twin-$$(cat $(location nonce.txt)) >> $@ && " +
          "date +%s%N >> $@",
) for i in [1, 2]]

# On the default pool: no /nix, and nix-build (the host's /usr/bin is visible) cannot work.
genrule(
    name = "off_pool",
    srcs = ["probe.nix", "nonce.txt", "//nixpkgs:default.nix"],
    outs = ["off_pool.txt"],
    cmd = "(test -e /nix && echo nix-present || echo nix-absent; " +
          "nix-build --no-out-link ./$(location probe.nix) --argstr nonce $$(cat $(location nonce.txt)) >/dev/null 2>&1 " +
          "&& echo nix-build-works || echo nix-build-fails) > $@",
)

# On the pool again, later: is a store path an earlier action built still valid?
genrule(
    name = "check_valid",
    srcs = ["path.txt"],
    outs = ["check_valid.txt"],
    exec_properties = ${POOL},
    cmd = "nix-store --check-validity $$(cat $(location path.txt)) && echo valid > $@",
)
`;

// up.sh needs root, like remote.test.ts.
describe.runIf(process.getuid?.() === 0).each(FLAVORS)("the Nix pool of the Buildbarn cluster, $title", (flavor) => {
  let ws: Workspace | undefined;
  let cluster: ClusterLease | undefined;
  let built = "";
  const remoteFlags = () => [
    `--remote_executor=${cluster!.endpoint}`,
    "--remote_instance_name=nixstore",
    "--spawn_strategy=remote",
    "--remote_local_fallback=false",
    "--noremote_accept_cached",
  ];
  const nonce = `${flavor.id}-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    cluster = await leaseCluster();
    ws = await makeWorkspace(flavor, { packages: [], build: BUILD, files: { "probe.nix": PROBE_NIX, "nonce.txt": nonce, "path.txt": "" } });
  });
  afterAll(async () => {
    await ws?.close();
    await cluster?.release();
  });

  test("an action with exec_properties {pool: nix} runs nix-build into the pool's persistent store", async () => {
    const r = await ws!.bazel(["build", ...remoteFlags(), "//:on_pool"]);
    expect(r.exitCode, `${explain(r)}\n(cluster logs: ${LOGS})`).toBe(0);
    expect(processes(r.all)).toMatch(/\b1 remote(,|\.|$)/);
    const [uid, confDir, path, builtLine, sandbox, version] = ws!.bin("on_pool.txt").trim().split("\n");
    // The unprivileged runner user, with the pool's environment (worker.jsonnet) under Bazel's.
    expect(uid).not.toBe("0");
    expect(confDir).toBe(join(RUN_DIR, "nix-conf"));
    expect(path).toMatch(new RegExp(`^/nix/store/[0-9a-z]{32}-nix-pool-probe-${nonce}$`));
    expect(builtLine).toBe(`built ${nonce}`);
    // Built in Nix's sandbox, which an unprivileged single-user Nix gets from a user namespace.
    expect(sandbox).toBe("usr-hidden");
    // The host's Nix (Debian's, in /usr/bin).
    expect(version).toBe((await execa("nix-store", ["--version"])).stdout.trim());
    // The store path lives in the pool's store on the host, owned by the runner user.
    const onHost = join(NIX_POOL_STORE, path!);
    expect(existsSync(onHost), onHost).toBe(true);
    expect(readFileSync(onHost, "utf8")).toBe(`built ${nonce}\nusr-hidden\n`);
    built = path!;
  });

  test("two actions on the pool's runners build the same derivation in the shared store at once", async () => {
    const r = await ws!.bazel(["build", ...remoteFlags(), "--jobs=4", "//:twin_1", "//:twin_2"]);
    expect(r.exitCode, `${explain(r)}\n(cluster logs: ${LOGS})`).toBe(0);
    expect(processes(r.all)).toMatch(/\b2 remote(,|\.|$)/);
    const [start1, one, end1] = ws!.bin("twin_1.txt").trim().split("\n");
    const [start2, two, end2] = ws!.bin("twin_2.txt").trim().split("\n");
    expect(one).toMatch(new RegExp(`^/nix/store/[0-9a-z]{32}-nix-pool-probe-twin-${nonce}$`));
    expect(two).toBe(one);
    expect(readFileSync(join(NIX_POOL_STORE, one!), "utf8")).toBe(`built twin-${nonce}\nusr-hidden\n`);
    // They ran at the same time (the build takes 2 s): each started before the other ended.
    expect(BigInt(start1!)).toBeLessThan(BigInt(end2!));
    expect(BigInt(start2!)).toBeLessThan(BigInt(end1!));
  });

  test("an action without exec_properties runs on the default pool: no /nix, no working nix-build", async () => {
    const r = await ws!.bazel(["build", ...remoteFlags(), "//:off_pool"]);
    expect(r.exitCode, `${explain(r)}\n(cluster logs: ${LOGS})`).toBe(0);
    expect(processes(r.all)).toMatch(/\b1 remote(,|\.|$)/);
    expect(ws!.bin("off_pool.txt")).toBe("nix-absent\nnix-build-fails\n");
  });

  test("up.sh prints the client flags also when the cluster is already up", async () => {
    const r = await up();
    expect(r.exitCode, String(r.all)).toBe(0);
    expect(r.all).toContain("already running");
    expect(r.all).toContain(`--remote_executor=${cluster!.endpoint} --remote_instance_name=nixstore`);
    expect(r.all).toContain(`exec_properties = {"pool": "nix"}`);
    expect(r.all).toContain("--experimental_repo_remote_exec");
    // The endpoint stays the last line of stdout.
    expect(endpointOf(r)).toBe(cluster!.endpoint);
  });

  test("the pool's store outlives down.sh && up.sh: a path built before is still valid", async () => {
    expect(built, "the first test built nothing").not.toBe("");
    const stopped = await down();
    expect(stopped.exitCode, String(stopped.all)).toBe(0);
    expect(existsSync(join(NIX_POOL_STORE, built))).toBe(true);
    const started = await up();
    expect(started.exitCode, String(started.all)).toBe(0);
    ws!.write("path.txt", `${built}\n`);
    const r = await ws!.bazel(["build", ...remoteFlags(), "//:check_valid"]);
    expect(r.exitCode, `${explain(r)}\n(cluster logs: ${LOGS})`).toBe(0);
    expect(processes(r.all)).toMatch(/\b1 remote(,|\.|$)/);
    expect(ws!.bin("check_valid.txt")).toBe("valid\n");
  });
});
