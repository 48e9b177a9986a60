// Remotable packages (rules/remotable.bzl, issue 8) on the loopback Buildbarn cluster's Nix pool
// (test/buildbarn), per Bazel (4.2.3 WORKSPACE, 7.7.1 bzlmod: NIXSTORE_TEST_BAZEL):
//
// 1. Fetch time (`bazel build --nobuild` of a genrule using them, fresh output base and server)
//    of ONE package (fixture `hello`) and of TEN (`tiny01`..`tiny10`):
//      local   plain nixpkgs_package (defs.bzl), built by the client's Nix into the output
//              base's store, machine cache off
//      cold    remotable, derivations no run built before: the pool builds, the closure comes
//              back as the remote command's stdout (base64 of a tar.gz)
//      warm    remotable, the same derivations again after `clean --expunge`: a remote action
//              cache hit, no build on the pool (the worker's Running count must not move)
//    Each run salts every derivation of the fixture (a `salt.txt` that its two derivation
//    helpers read), so local and cold both build the whole closure, busybox included.
// 2. Bytes each way for the remotable fetches: CAS bytes the client uploaded through the
//    frontend (Put) and read through it (Get), beside the closure's size (sum of its files), the
//    archive and the base64 text.
// 3. Big incompressible closures (a file of N MiB from /dev/urandom, built by the fixture's
//    busybox runCommand), fetched remotably: time and the Bazel server's peak RSS (VmHWM, a
//    fresh server per case); the largest again with smaller Java heaps (-Xmx: a client with
//    less memory); a closure over max_closure_mib; and one whose base64 text is bigger than a
//    block of the cluster's CAS (4 GiB in 14 blocks, test/buildbarn/README.md): what the user
//    sees then.
//
//   sudo flock -o /tmp/nixstore-remote-tests.lock \
//     npx vitest run --config bench/vitest.config.ts bench/remotable.bench.test.ts
//   (BENCH_RUNS=N runs of each fetch case, default 2; BENCH_BIG_MIB=16,64,200,214 the sizes
//   that must fit; BENCH_SMALL_HEAPS=1g,512m; BENCH_OVER_BLOCK_MIB=218 the size that must not
//   fit; NIXSTORE_TEST_BAZEL=4,7)
//
// Writes bench/results/remotable.json (flavors not run keep their last results). Needs root
// (the cluster); takes the cluster as it finds it (starting it with up.sh's defaults if it is
// down) and leaves it with up.sh's default settings.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { cpus, loadavg, release as kernelRelease, totalmem } from "node:os";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { casBytesDownloaded, casBytesUploaded, leaseCluster, LOGS, type ClusterLease } from "../test/integration/buildbarn.js";
import { FLAVORS, REPO_ROOT, explain, makeWorkspace, type Flavor, type PackageSpec, type Workspace } from "../test/integration/harness.js";
import { remotableDeclarations, remotablePackageDir, workerRuns, type Remotable } from "../test/integration/remotable-support.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const BIG_MIB = (process.env.BENCH_BIG_MIB ?? "16,64,200,214").split(",").map(Number);
const OVER_BLOCK_MIB = Number(process.env.BENCH_OVER_BLOCK_MIB ?? 218);
/** Java heaps (-Xmx) the largest of BIG_MIB is fetched again with (an action cache hit). */
const SMALL_HEAPS = (process.env.BENCH_SMALL_HEAPS ?? "1g,512m").split(",").filter(Boolean);
const RESULTS = join(REPO_ROOT, "bench/results/remotable.json");
const TEN = Array.from({ length: 10 }, (_, i) => `tiny${String(i + 1).padStart(2, "0")}`);
const SETS: Record<string, string[]> = { one: ["hello"], ten: TEN };
/** Suffix of a remotable package's build repository (rules/private/remote_build.bzl). */
const REMOTE_BUILD_SUFFIX = "__nixstore_remote_build";
const MIB = 1024 * 1024;

const results: Record<string, Record<string, unknown>> = {};
const round = (x: number, digits = 2) => Number(x.toFixed(digits));
const load = () => loadavg().map((x) => round(x));
const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

afterAll(() => {
  mkdirSync(join(REPO_ROOT, "bench/results"), { recursive: true });
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, memory_mib: Math.round(totalmem() / MIB), kernel: kernelRelease(), node: process.version };
  const previous = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, "utf8")) as { results?: Record<string, unknown> }).results : {};
  writeFileSync(RESULTS, JSON.stringify({ benchmark: "remotable", runs: RUNS, machine, results: { ...previous, ...results } }, null, 2) + "\n");
});

/** A genrule that runs every package's bin/<name>: what the fetches are for. */
function buildFile(names: string[]): string {
  return `genrule(
    name = "all",
    outs = ["all.txt"],
    tools = [${names.map((n) => `"@${n}//:bin/${n}"`).join(", ")}],
    cmd = " && ".join(["$(location @{0}//:bin/{0}) >> $@".format(n) for n in [${names.map((n) => JSON.stringify(n)).join(", ")}]]),
)
`;
}

/**
 * Makes every derivation of the workspace's fixture nixpkgs depend on nixpkgs/salt.txt (its two
 * derivation helpers read it), then writes `salt`. Call before declaring the packages: salt.txt
 * must be one of the nixpkgs repository's files (uploaded to the pool, watched by the client).
 */
function salt(ws: Workspace, value: string): void {
  const file = "nixpkgs/default.nix";
  const text = ws.read(file);
  if (!text.includes("benchSalt")) {
    const helper = "      system = fixtureSystem;\n";
    expect(text.split(helper).length - 1, `${file}: the derivation helpers changed; update salt()`).toBe(2);
    ws.write(file, text.replaceAll(helper, `${helper}      benchSalt = builtins.readFile ./salt.txt;\n`));
  }
  ws.write("nixpkgs/salt.txt", `${value}\n`);
}

/** Sum of the sizes of the regular files under `dir`, and their count (symlinks not followed). */
function treeSize(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) {
      const sub = treeSize(p);
      bytes += sub.bytes;
      files += sub.files;
    } else if (entry.isFile()) {
      bytes += lstatSync(p).size;
      files += 1;
    }
  }
  return { bytes, files };
}

/** What a remotable package's fetch brought: closure, archive and base64 text sizes. */
function remoteSizes(ws: Workspace, name: string): { closure_bytes: number; closure_files: number; archive_bytes: number; base64_bytes: number } {
  const closure = treeSize(join(remotablePackageDir(ws, name), "_nixstore/remote/nix/store"));
  const build = remotablePackageDir(ws, name + REMOTE_BUILD_SUFFIX);
  const archive = Number(/^archive (\d+)$/m.exec(readFileSync(join(build, "closure.txt"), "utf8"))?.[1]);
  return { closure_bytes: closure.bytes, closure_files: closure.files, archive_bytes: archive, base64_bytes: lstatSync(join(build, "closure.tar.gz.b64")).size };
}

/**
 * The Bazel server's peak and current resident memory (MiB), from /proc/<pid>/status; NaN when
 * the server is gone (it crashed).
 */
function serverMemory(pid: number): { peak_rss_mib: number; rss_mib: number } {
  if (!existsSync(`/proc/${pid}/status`)) return { peak_rss_mib: NaN, rss_mib: NaN };
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { peak_rss_mib: round(kib("VmHWM") / 1024, 1), rss_mib: round(kib("VmRSS") / 1024, 1) };
}

/** The lines of a failed Bazel command's output that say what went wrong. */
function errorLines(output: string): string {
  return output
    .split("\n")
    .filter((l) => /ERROR|FATAL|rror:|failed|exceed|OutOfMemory|out of memory|too large/i.test(l))
    .slice(0, 12)
    .join("\n");
}

interface Fetch {
  s: number;
  ok: boolean;
  /** Actions the cluster's worker ran meanwhile (the pool's builds). */
  pool_builds: number;
  uploaded_bytes: number;
  downloaded_bytes: number;
  peak_rss_mib: number;
  rss_mib: number;
  /** `bazel info max-heap-size`: the server's Java heap limit. */
  jvm_max_heap: string | undefined;
  load_before: number[];
  load_after: number[];
  /** Bazel's output when it failed, else its lines that mention downloads. */
  output: string;
}

/**
 * `clean --expunge` (a fresh output base and server), the server started by `info`, then the
 * timed `build --nobuild` of `targets`; with the cluster's counters and the server's memory.
 * `startup`: Bazel startup options (e.g. --host_jvm_args=-Xmx1g).
 */
async function fetchFresh(ws: Workspace, flags: string[], targets: string[], startup: string[] = []): Promise<Fetch> {
  const cleaned = await ws.bazel([...startup, "clean", "--expunge"]);
  expect(cleaned.exitCode, explain(cleaned)).toBe(0);
  const info = await ws.bazel([...startup, "info", "server_pid", "max-heap-size"]);
  expect(info.exitCode, explain(info)).toBe(0);
  const infoOf = (key: string) => new RegExp(`^${key}: (.*)$`, "m").exec(String(info.stdout))?.[1];
  const pid = Number(infoOf("server_pid"));
  const jvm_max_heap = infoOf("max-heap-size");
  expect(readFileSync(`/proc/${pid}/cmdline`, "utf8"), `server pid ${pid}`).toMatch(/java|bazel/);
  const [runs, up, down] = [await workerRuns(), await casBytesUploaded(), await casBytesDownloaded()];
  const load_before = load();
  const t = process.hrtime.bigint();
  const r = await ws.bazel([...startup, "build", "--nobuild", ...flags, ...targets]);
  const s = round(seconds(t));
  const memory = serverMemory(pid);
  const all = String(r.all ?? "");
  return {
    s,
    ok: r.exitCode === 0,
    pool_builds: (await workerRuns()) - runs,
    uploaded_bytes: (await casBytesUploaded()) - up,
    downloaded_bytes: (await casBytesDownloaded()) - down,
    ...memory,
    jvm_max_heap,
    load_before,
    load_after: load(),
    output: r.exitCode === 0 ? all.split("\n").filter((l) => /download/i.test(l)).join("\n") : explain(r),
  };
}

// up.sh creates the runners' users and mount namespaces: it needs root.
describe.runIf(process.getuid?.() === 0).each(FLAVORS)("remotable packages, $title", (flavor: Flavor) => {
  let cluster: ClusterLease | undefined;
  const workspaces: Workspace[] = [];
  const remotable = () => ["--experimental_repo_remote_exec", `--remote_executor=${cluster!.endpoint}`, "--remote_instance_name=nixstore"];
  const result = (key: string, value: unknown) => ((results[flavor.id] ??= { bazel: flavor.title, date: new Date().toISOString() })[key] = value);

  beforeAll(async () => {
    cluster = await leaseCluster();
  });
  afterAll(async () => {
    for (const ws of workspaces) await ws.close();
    await cluster?.release();
  });

  async function workspace(build: string): Promise<Workspace> {
    const ws = await makeWorkspace(flavor, { packages: [], build });
    workspaces.push(ws);
    // Nothing is reused from a machine cache: every local fetch builds into its output base.
    ws.machineCache = "off";
    return ws;
  }

  /** Declares remotable packages (after salt(): salt.txt is then among the nixpkgs files). */
  function declareRemotable(ws: Workspace, packages: Remotable[]): void {
    const { file, text } = remotableDeclarations(flavor, ws.dir, packages);
    ws.write(file, text);
  }

  test.each(Object.keys(SETS))("fetch time and bytes of %s package(s): local, remotable cold, remotable warm", async (set) => {
    const names = SETS[set]!;
    const local = await workspace(buildFile(names));
    const remote = await workspace(buildFile(names));
    const runs: Array<Record<string, unknown>> = [];
    for (let run = 1; run <= RUNS; run++) {
      const value = `remotable.bench ${set} ${process.pid}-${Date.now()}-${run}`;
      salt(local, value);
      local.writePackages(names.map((name): PackageSpec => ({ name })));
      salt(remote, value);
      declareRemotable(remote, names.map((name) => ({ name, attribute_path: name })));

      const a = await fetchFresh(local, [], ["//:all"]);
      expect(a.ok, a.output).toBe(true);
      expect(a.pool_builds).toBe(0);
      const b = await fetchFresh(remote, remotable(), ["//:all"]);
      expect(b.ok, `${b.output}\n(cluster logs: ${LOGS})`).toBe(true);
      // One build on the pool per package: nothing came from the action cache.
      expect(b.pool_builds).toBe(names.length);
      const c = await fetchFresh(remote, remotable(), ["//:all"]);
      expect(c.ok, c.output).toBe(true);
      // Remote action cache hits: nothing ran on the pool.
      expect(c.pool_builds).toBe(0);
      const sizes = names.map((n) => remoteSizes(remote, n));
      const sum = (k: keyof (typeof sizes)[number]) => sizes.reduce((acc, x) => acc + x[k], 0);
      runs.push({
        run,
        local: a,
        cold: b,
        warm: c,
        sizes: { closure_bytes: sum("closure_bytes"), closure_files: sum("closure_files"), archive_bytes: sum("archive_bytes"), base64_bytes: sum("base64_bytes") },
      });
      console.log(`${flavor.id} ${set} run ${run}: local ${a.s} s, cold ${b.s} s, warm ${c.s} s; ${JSON.stringify(runs.at(-1)!.sizes)}; cold up ${b.uploaded_bytes} down ${b.downloaded_bytes}, warm up ${c.uploaded_bytes} down ${c.downloaded_bytes}`);
    }
    const of = (k: "local" | "cold" | "warm") => runs.map((r) => r[k] as Fetch);
    result(set, {
      packages: names,
      summary: Object.fromEntries(
        (["local", "cold", "warm"] as const).map((k) => [
          k,
          {
            s_median: round(median(of(k).map((f) => f.s))),
            s_runs: of(k).map((f) => f.s),
            uploaded_bytes_median: median(of(k).map((f) => f.uploaded_bytes)),
            downloaded_bytes_median: median(of(k).map((f) => f.downloaded_bytes)),
            peak_rss_mib_median: median(of(k).map((f) => f.peak_rss_mib)),
            load_before: of(k).map((f) => f.load_before),
          },
        ]),
      ),
      runs,
    });
  });

  /** A package of one file of `mib` MiB from /dev/urandom, new each time (`tag`). */
  function randomPackage(mib: number, tag: string, extra?: string): Remotable {
    const nix = `let pkgs = import <nixpkgs> { }; in pkgs.runCommand "bench-random-${mib}mib" { tag = ${JSON.stringify(tag)}; } ''
  mkdir -p $out/share
  head -c ${mib * MIB} /dev/urandom > $out/share/random.bin
''`;
    return { name: "big", extra: [`nix_file_content = ${JSON.stringify(nix)}`, ...(extra ? [extra] : [])].join(",\n    ") };
  }

  test("big incompressible closures: time and Bazel's peak memory; over max_closure_mib; over a CAS block", async () => {
    const ws = await workspace("");
    const tag = () => `remotable.bench ${process.pid}-${Date.now()}`;
    const cases: Array<Record<string, unknown>> = [];
    // The limit of the rules: a 16 MiB closure against max_closure_mib = 8.
    declareRemotable(ws, [randomPackage(16, tag(), "max_closure_mib = 8")]);
    const over = await fetchFresh(ws, remotable(), ["@big//:closure"]);
    expect(over.ok).toBe(false);
    const limitError = /the closure of \S+ is \d+ bytes as a compressed archive, more than the limit of \d+ bytes \(max_closure_mib\)[^\n]*/.exec(over.output)?.[0];
    expect(limitError, over.output).toBeTruthy();
    cases.push({ mib: 16, max_closure_mib: 8, ...over, output: undefined, error: limitError });

    for (const mib of BIG_MIB) {
      // max_closure_mib above the archive (the default is 256).
      declareRemotable(ws, [randomPackage(mib, tag(), `max_closure_mib = ${Math.max(256, mib + 16)}`)]);
      const f = await fetchFresh(ws, remotable(), ["@big//:closure"]);
      expect(f.ok, f.output).toBe(true);
      expect(f.pool_builds).toBe(1);
      const sizes = remoteSizes(ws, "big");
      expect(sizes.closure_bytes).toBeGreaterThanOrEqual(mib * MIB);
      cases.push({ mib, ...f, sizes });
      console.log(`${flavor.id} ${mib} MiB: ${f.s} s, peak RSS ${f.peak_rss_mib} MiB, ${JSON.stringify(sizes)}`);
    }

    // The largest again (still declared: an action cache hit, no build), with smaller heaps:
    // what a client with less memory sees.
    for (const heap of SMALL_HEAPS) {
      const f = await fetchFresh(ws, remotable(), ["@big//:closure"], [`--host_jvm_args=-Xmx${heap}`]);
      expect(f.pool_builds).toBe(0);
      const error = f.ok ? undefined : errorLines(f.output);
      cases.push({ mib: BIG_MIB.at(-1), xmx: heap, ...f, output: undefined, error });
      console.log(`${flavor.id} ${BIG_MIB.at(-1)} MiB, -Xmx${heap}: ok=${f.ok} ${f.s} s, peak RSS ${f.peak_rss_mib} MiB\n${error ?? ""}`);
    }

    // Past what one blob of the cluster's CAS holds (the base64 text is ~4/3 of the archive).
    declareRemotable(ws, [randomPackage(OVER_BLOCK_MIB, tag(), `max_closure_mib = ${OVER_BLOCK_MIB + 16}`)]);
    const huge = await fetchFresh(ws, remotable(), ["@big//:closure"]);
    const error = huge.ok ? undefined : errorLines(huge.output);
    cases.push({ mib: OVER_BLOCK_MIB, max_closure_mib: OVER_BLOCK_MIB + 16, ...huge, output: undefined, error, sizes: huge.ok ? remoteSizes(ws, "big") : undefined });
    console.log(`${flavor.id} ${OVER_BLOCK_MIB} MiB: ok=${huge.ok} ${huge.s} s, peak RSS ${huge.peak_rss_mib} MiB\n${huge.output}`);
    result("big", cases);
  });
});
