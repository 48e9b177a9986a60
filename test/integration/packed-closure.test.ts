// packed_closure = True: a package's launchers carry its closure as one Nix archive
// (`_nixstore/closure.nar`) instead of one input per file, and the launcher unpacks it once per
// machine and user. Real Bazel, real Nix, and the real Buildbarn cluster on loopback
// (test/buildbarn: an unprivileged runner without /nix, which shares this machine's /tmp, so the
// test can see the runner's unpacked entries).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOGS, leaseCluster, type ClusterLease } from "./buildbarn.js";
import { FLAVORS, closureEntries, explain, makeWorkspace, narCaches, parseExecutionLog, processes, type Workspace } from "./harness.js";

const PACKED = "packed_closure = True";
const PACKAGES = [
  { name: "manyfiles" },
  { name: "manyfiles_packed", attribute_path: "manyfiles", extra: PACKED },
  { name: "hello_packed", attribute_path: "hello", extra: PACKED },
];

/** A genrule named `name` running `tool` (a bin/<exe> label) into `<name>.txt`; `nonce` makes it new. */
function genrule(name: string, tool: string, nonce = ""): string {
  return `
genrule(
    name = "${name}",
    outs = ["${name}.txt"],
    tools = ["${tool}"],
    cmd = "$(location ${tool}) > $@ # ${nonce}",
)
`;
}

function build(nonce = ""): string {
  return [
    genrule("many_packed", "@manyfiles_packed//:bin/count-files", nonce),
    genrule("many_files", "@manyfiles//:bin/count-files", nonce),
    genrule("hello_packed_out", "@hello_packed//:bin/hello", nonce),
  ].join("");
}

/** The sha256 a packed repository's BUILD file gives its launchers. */
function narSha256(ws: Workspace, repo: string): string {
  const m = /nar_sha256 = "([0-9a-f]{64})"/.exec(readFileSync(join(ws.repoDir(repo), "BUILD.bazel"), "utf8"));
  if (!m?.[1]) throw new Error(`no nar_sha256 in the BUILD file of ${repo}`);
  return m[1];
}

/** The unpacked closures of archive `sha256` in every user's cache on this machine (`<sha256>.entry/closure`). */
function unpacked(sha256: string): string[] {
  return narCaches()
    .map((d) => join(d, `${sha256}.entry`, "closure"))
    .filter((p) => existsSync(p));
}

/** Unpackings in progress or left behind, in every user's cache. */
function leftovers(): string[] {
  return narCaches().flatMap((d) => readdirSync(d).filter((e) => e.startsWith(".tmp-")));
}

/** The inputs of each spawn in a JSON execution log, by the spawn's first output. */
function spawnInputs(log: string): Map<string, string[]> {
  const spawns = new Map<string, string[]>();
  for (const spawn of parseExecutionLog(log)) {
    const out = spawn.listedOutputs?.[0];
    if (out) spawns.set(out, (spawn.inputs ?? []).map((i) => i.path));
  }
  return spawns;
}

// up.sh needs root (CI runs as root), like remote.test.ts.
describe.runIf(process.getuid?.() === 0).each(FLAVORS)("packed closures, $title", (flavor) => {
  let ws: Workspace;
  let cluster: ClusterLease | undefined;
  let logDir = "";
  const remote = () => [
    `--remote_executor=${cluster!.endpoint}`,
    "--remote_instance_name=nixstore",
    "--spawn_strategy=remote",
    "--remote_local_fallback=false",
  ];

  beforeAll(async () => {
    cluster = await leaseCluster();
    ws = await makeWorkspace(flavor, { packages: PACKAGES, build: build() });
    logDir = mkdtempSync(join(tmpdir(), "nixstore-packed-log-"));
  });
  afterAll(async () => {
    await ws?.close();
    rmSync(logDir, { recursive: true, force: true });
    await cluster?.release();
  });

  test("a packed tool runs on workers without Nix, its action carrying one file of its closure instead of 5,122", async () => {
    const log = join(logDir, "remote.json");
    const r = await ws.bazel(["build", ...remote(), "--noremote_accept_cached", `--execution_log_json_file=${log}`, "//:all"]);
    expect(r.exitCode, `${explain(r)}\n(cluster logs: ${LOGS})`).toBe(0);
    expect(processes(r.all)).toMatch(/3 remote/);
    expect(ws.bin("many_packed.txt")).toBe("5120\n");
    expect(ws.bin("many_files.txt")).toBe("5120\n");
    expect(ws.bin("hello_packed_out.txt")).toBe("hello from nix\n");

    const inputs = spawnInputs(readFileSync(log, "utf8"));
    const of = (out: string) => [...inputs].find(([o]) => o.endsWith(out))?.[1] ?? [];
    const packed = of("many_packed.txt");
    const files = of("many_files.txt");
    // Unpacked: every file of the closure (5,120 data files, the tool, busybox and its links).
    expect(files.filter((p) => p.includes("/nix/store/")).length).toBeGreaterThanOrEqual(5122);
    // Packed: the launcher, its data, enter and the archive (at its execution path and in the
    // launcher's runfiles tree, the same digest); no file of the closure.
    expect(packed.filter((p) => p.includes("/nix/store/"))).toEqual([]);
    expect(packed.filter((p) => p.endsWith("/_nixstore/closure.nar")).length).toBeGreaterThanOrEqual(1);
    expect(packed.length, packed.join("\n")).toBeLessThanOrEqual(12);
    console.info(`inputs of the packed action: ${packed.length} (${files.length} unpacked):\n${packed.join("\n")}`);
  });

  test("the archive is the NAR Nix writes: unpacked, each store path has the NAR hash Nix recorded for it", async () => {
    const repo = ws.repoDir("manyfiles_packed");
    const nar = join(repo, "_nixstore/closure.nar");
    const sha = await ws.run(["sha256sum", nar]);
    expect(String(sha.stdout).split(" ")[0]).toBe(narSha256(ws, "manyfiles_packed"));

    const dest = join(mkdtempSync(join(tmpdir(), "nixstore-nar-")), "closure");
    try {
      const restore = await ws.run(["sh", "-c", 'exec nix-store --restore "$1" < "$2"', "restore", dest, nar]);
      expect(restore.exitCode, explain(restore)).toBe(0);
      const recorded = (JSON.parse(readFileSync(join(repo, "_nixstore/lock.json"), "utf8")) as { closure: Record<string, string> }).closure;
      expect(readdirSync(dest).sort()).toEqual(closureEntries(ws, "manyfiles_packed").sort());
      for (const entry of readdirSync(dest)) {
        const hash = await ws.run(["nix-hash", "--type", "sha256", "--base32", join(dest, entry)]);
        expect(`sha256:${String(hash.stdout).trim()}`, entry).toBe(recorded[`/nix/store/${entry}`]);
      }
    } finally {
      await ws.run(["rm", "-rf", join(dest, "..")]);
    }
  });

  test("the worker unpacks an archive once: later actions map the same verified entry", async () => {
    const sha = narSha256(ws, "manyfiles_packed");
    for (const p of unpacked(sha)) rmSync(join(p, ".."), { recursive: true, force: true });
    // New actions (the cluster's action cache outlives runs of this test).
    const nonce = String(Date.now());
    ws.write("BUILD.bazel", build(`first ${nonce}`));
    const first = await ws.bazel(["build", ...remote(), "//:many_packed"]);
    expect(first.exitCode, explain(first)).toBe(0);
    const entries = unpacked(sha);
    // One entry, the runner's (an unprivileged user's, not ours), private to it.
    expect(entries).toHaveLength(1);
    const entry = entries[0]!;
    const dir = statSync(join(entry, "../.."));
    expect(dir.uid).not.toBe(0);
    expect(dir.mode & 0o777).toBe(0o700);
    const before = statSync(entry);

    ws.write("BUILD.bazel", build(`second ${nonce}`));
    const second = await ws.bazel(["build", ...remote(), "//:many_packed"]);
    expect(second.exitCode, explain(second)).toBe(0);
    expect(processes(second.all)).toMatch(/1 remote/);
    expect(ws.bin("many_packed.txt")).toBe("5120\n");
    const after = statSync(entry);
    expect([after.ino, after.ctimeMs]).toEqual([before.ino, before.ctimeMs]);
    expect(leftovers()).toEqual([]);
  });

  test("locally, in the sandbox and with --spawn_strategy=local, packed tools run too", async () => {
    for (const strategy of ["sandboxed", "local"]) {
      ws.write("BUILD.bazel", build(strategy));
      const r = await ws.bazel(["build", `--spawn_strategy=${strategy}`, "//:many_packed", "//:hello_packed_out"]);
      expect(r.exitCode, explain(r)).toBe(0);
      expect(ws.bin("many_packed.txt")).toBe("5120\n");
      expect(ws.bin("hello_packed_out.txt")).toBe("hello from nix\n");
    }
  });
});
