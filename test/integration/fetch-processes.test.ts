// How many processes a fetch runs per package, counted exactly (strace -f of Bazel's client and
// server, execve calls), on Bazel 4.2.3 (WORKSPACE) and 7.7.1 (bzlmod): after `clean --expunge`
// with the machine cache warm, a package pinned by the lock or by the machine's evaluation cache
// runs one process (`enter --import`) and no Nix at all; a cold fetch of new derivations runs one
// evaluation and one build for the whole group. The counts are bounds this test keeps from
// creeping back. A measuring device, not a mock: everything runs for real under strace.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { chmodSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { STORE_DIRNAME } from "../../generator/model/constants.js";
import { FLAVORS, explain, makeWorkspace, type PackageSpec, type Workspace } from "./harness.js";
import { nixgenLock } from "./lock-support.js";

const N = 6;
const NAMES = Array.from({ length: N }, (_, i) => `tiny${String(i + 1).padStart(2, "0")}`);
const TARGETS = NAMES.map((n) => `@${n}//:bin/${n}`);

/** The fixture (real.nix) with every tiny package a new derivation when salt.txt changes. */
const SALTED = `args:
let
  real = import ./real.nix args;
  salt = builtins.readFile ./salt.txt;
  tiny = builtins.filter (n: builtins.substring 0 4 n == "tiny") (builtins.attrNames real);
  salted = name: { inherit name; value = builtins.derivation (real.\${name}.drvAttrs // { inherit salt; }); };
in
real // builtins.listToAttrs (map salted tiny)
`;

/** What a traced command ran: repository commands (Bazel's process-wrapper), and every execve by program name. */
interface Trace {
  readonly executes: number;
  readonly programs: Map<string, number>;
}

function count(programs: Map<string, number>, pattern: RegExp): number {
  return [...programs].filter(([p]) => pattern.test(p)).reduce((n, [, c]) => n + c, 0);
}

describe.each(FLAVORS)("processes of a fetch, $title", (flavor) => {
  let ws: Workspace;

  /** Runs Bazel (a fresh server) under strace; returns what it executed (and, with `opens`, the strace log). */
  async function traced(args: string[], env: Record<string, string> = {}, opens = false): Promise<Trace & { log: string }> {
    await ws.bazel(["shutdown"]);
    const log = join(ws.root, "strace.log");
    const calls = opens ? "trace=execve,openat" : "trace=execve";
    const argv = ["strace", "-f", "--seccomp-bpf", "-qq", "-e", calls, "-o", log, flavor.bazel, `--output_base=${ws.outputBase}`, "--max_idle_secs=2", ...args];
    const started = Date.now();
    const r = await execa(argv[0]!, argv.slice(1), { cwd: ws.dir, reject: false, all: true, stdin: "ignore", env: { RULES_NIXSTORE_MACHINE_CACHE: ws.machineCache, ...env } });
    expect(r.exitCode, explain(r)).toBe(0);
    console.log(`${flavor.id}: bazel ${args[0]} under strace: ${Date.now() - started} ms`);
    const programs = new Map<string, number>();
    for (const line of readFileSync(log, "utf8").split("\n")) {
      const m = /execve\("([^"]+)"/.exec(line);
      if (!m || / = -1 /.test(line)) continue;
      const name = m[1]!.split("/").pop()!;
      programs.set(name, (programs.get(name) ?? 0) + 1);
    }
    return { executes: programs.get("process-wrapper") ?? 0, programs, log: readFileSync(log, "utf8") };
  }

  beforeAll(async () => {
    ws = await makeWorkspace(flavor, { packages: NAMES.map((name) => ({ name })), build: "" });
    // Built once (machine cache), then pinned by `nixgen lock`.
    const r = await ws.bazel(["build", "--nobuild", ...TARGETS]);
    expect(r.exitCode, explain(r)).toBe(0);
    const lock = await nixgenLock(ws);
    expect(lock.exitCode, explain(lock)).toBe(0);
    const locked: PackageSpec[] = NAMES.map((name) => ({ name, extra: 'lock = "//:nixstore.lock.json"' }));
    ws.writePackages(locked);
  });
  afterAll(async () => {
    await ws?.close();
  });

  test(`clean --expunge, then ${N} pinned packages from the warm machine cache: one process each, no Nix`, async () => {
    await ws.bazel(["clean", "--expunge"]);
    const t = await traced(["build", "--nobuild", ...TARGETS]);
    const imports = t.programs.get("enter") ?? 0;
    console.log(`${flavor.id}: pinned: ${t.executes} repository commands for ${N} packages; ${JSON.stringify(Object.fromEntries(t.programs))}`);
    expect(count(t.programs, /^nix/)).toBe(0);
    expect(imports).toBe(N);
    // The nixpkgs repository hashes its files once (its marker): the only command besides the
    // packages' own.
    expect(t.executes).toBeLessThanOrEqual(N + 2);
  });

  test(`clean --expunge without a lock: the machine's evaluation cache pins them: one process each, no Nix`, async () => {
    ws.writePackages(NAMES.map((name) => ({ name })));
    await ws.bazel(["clean", "--expunge"]);
    const t = await traced(["build", "--nobuild", ...TARGETS]);
    console.log(`${flavor.id}: evaluation cache: ${t.executes} repository commands; ${JSON.stringify(Object.fromEntries(t.programs))}`);
    expect(count(t.programs, /^nix/)).toBe(0);
    expect(t.programs.get("enter") ?? 0).toBe(N);
    expect(t.executes).toBeLessThanOrEqual(N + 2);
  });

  test(`refetch of the ${N} packages, store populated: one process each, no Nix`, async () => {
    const t = await traced(ws.refetchArgs(NAMES));
    console.log(`${flavor.id}: refetch: ${t.executes} repository commands; ${JSON.stringify(Object.fromEntries(t.programs))}`);
    expect(count(t.programs, /^nix/)).toBe(0);
    expect(t.executes).toBeLessThanOrEqual(N + 2);
  });

  test(`a path all ${N} share is hashed once per output base, not once per package, until a file of it changes`, async () => {
    // enter --import stamps each path it verified (nixstore_enter.c), never within the second of
    // a change; a path whose files kept their inode and change time is not read again.
    const refetch = ws.refetchArgs(NAMES);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await ws.refetch(NAMES)).exitCode).toBe(0);
    // enter reads busybox (the shared path) by name, relative to its bin/ directory.
    const reads = (log: string) => log.split("\n").filter((l) => /openat\(\d+, "busybox", O_RDONLY/.test(l)).length;
    const stamped = await traced(refetch, {}, true);
    expect(stamped.programs.get("enter") ?? 0).toBe(N);
    expect(reads(stamped.log)).toBe(0);
    // chmod sets the change time of busybox: the next fetch hashes it again (and a modified
    // content would fail it, lock.test checks that message).
    const store = join(ws.outputBase, STORE_DIRNAME, "nix/store");
    const busybox = readdirSync(store).find((e) => e.endsWith("-busybox"))!;
    const file = join(store, busybox, "bin/busybox");
    chmodSync(file, 0o755);
    chmodSync(file, 0o555);
    const changed = await traced(refetch, {}, true);
    expect(reads(changed.log)).toBeGreaterThanOrEqual(1);
  });

  test(`${N} new derivations: one evaluation and one build for the group, then one process per package`, async () => {
    // Every tiny package a new derivation: the fixture behind a wrapper that salts them.
    if (!ws.read("nixpkgs/default.nix").includes("salt.txt")) {
      ws.write("nixpkgs/real.nix", ws.read("nixpkgs/default.nix"));
      ws.write("nixpkgs/default.nix", SALTED);
    }
    ws.write("nixpkgs/salt.txt", `${Date.now()}\n`);
    ws.writePackages(NAMES.map((name) => ({ name })));
    const t = await traced(["build", "--nobuild", ...TARGETS], { RULES_NIXSTORE_EVALUATION_CACHE: "off" });
    console.log(`${flavor.id}: cold: ${t.executes} repository commands; ${JSON.stringify(Object.fromEntries(t.programs))}`);
    expect(t.programs.get("nix-instantiate") ?? 0).toBe(1);
    expect(t.programs.get("nix-build") ?? 0).toBe(0);
    // The group's: its store's set-up, one build, the closures, their registration.
    expect(t.programs.get("nix-store") ?? 0).toBeLessThanOrEqual(5);
    expect(t.programs.get("enter") ?? 0).toBe(N);
  });
});
