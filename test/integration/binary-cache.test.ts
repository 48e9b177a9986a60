// Closures from a real signed Nix binary cache (`nix copy --to file://...`, served over
// http://127.0.0.1 by the test's own static server), on Bazel 4.2.3 (WORKSPACE) and 7.7.1
// (bzlmod):
// - with Nix, a package substitutes from the cache into the machine cache and the output base's
//   store (nothing built: max-jobs 0); a cache signed by another key is refused;
// - `nixgen lock --binary-cache` records each store path's NAR from the cache's signed narinfos;
// - with that lock, a machine that runs no Nix command (failing stand-ins first on PATH), as an
//   unprivileged user with another checkout, downloads the closures with Bazel's downloader and
//   lays them out as the Nix-built ones (same files, same packed archive), so every action is a
//   cache hit of the Nix machine's; a refetch after `bazel clean --expunge` downloads nothing;
//   remote workers (the Buildbarn cluster: run this file under flock /tmp/nixstore-cluster.lock)
//   run the downloaded tools;
// - a tampered, truncated or unreachable NAR, a NAR whose hash is not the pinned one, a missing
//   decompressor and a lock without cache data on a machine without Nix are named errors that
//   leave nothing half-unpacked; `nixgen doctor` says whether this machine can fetch without Nix.
import { execa, type Result } from "execa";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { appendFileSync, chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { leaseCluster, type ClusterLease } from "./buildbarn.js";
import {
  fakeNix,
  copyToCache,
  makeCacheKey,
  pathWithoutNix,
  readNarInfo,
  startCacheServer,
  type CacheKey,
  type CacheServer,
} from "./binary-cache-support.js";
import {
  EXPECT_OUTPUT_SH,
  FLAVORS,
  NIXGEN,
  Workspace,
  explain,
  makeWorkspace,
  processes,
  run,
  type Flavor,
  type PackageSpec,
} from "./harness.js";
import { nixgenLock } from "./lock-support.js";

const NAMES = ["greet", "hello", "tiny02"];
const specs = (locked: boolean): PackageSpec[] =>
  NAMES.map((name) => ({
    name,
    extra: [name === "hello" ? "packed_closure = True" : "", locked ? `lock = "//:nixstore.lock.json"` : ""].filter(Boolean).join(",\n    "),
  }));

const BUILD = `
genrule(
    name = "greet_out",
    outs = ["greet.txt"],
    tools = ["@greet//:bin/greet"],
    cmd = "$(location @greet//:bin/greet) downloaded > $@",
)

genrule(
    name = "hello_out",
    outs = ["hello.txt"],
    tools = ["@hello//:bin/hello"],
    cmd = "$(location @hello//:bin/hello) > $@",
)

# buildifier: disable=native-sh-test
sh_test(
    name = "hello_test",
    srcs = ["expect_output.sh"],
    data = ["@hello//:bin/hello"],
    args = ["'hello from nix'", "$(rootpath @hello//:bin/hello)"],
)
`;
const TARGETS = ["//:greet_out", "//:hello_out", "//:hello_test"];
/** The packages TARGETS use (tiny02 is for the errors). */
const USED = ["greet", "hello"];

/** The unprivileged user of the Nix-less machine (root runs CI; otherwise the current user). */
const USER = "nixstore-bincache";

interface Lock {
  packages: Record<string, { out: string[]; closure: Record<string, string> }>;
  nars?: Record<string, { cache: string; url: string; compression: string; fileHash: string; fileSize: number; narHash: string; narSize: number; references: string[] }>;
}

/**
 * What a package repository holds, as Bazel sees it: its BUILD files, closure list and every
 * file of the closure (followed through the links into the store that holds it).
 */
async function repoSnapshot(dir: string): Promise<string> {
  // Types of every entry, modes of the files (Bazel's inputs have no directory modes), contents.
  const script = 'cd "$1" && find -L nix/store \\( -type f -printf "%P f %m\\n" \\) -o -printf "%P %y\\n" | LC_ALL=C sort && find -L nix/store -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum';
  const files = await execa("sh", ["-c", script, "sh", dir]);
  return [
    readFileSync(join(dir, "BUILD.bazel"), "utf8"),
    readFileSync(join(dir, "_nixstore/BUILD.bazel"), "utf8"),
    readFileSync(join(dir, "nix/closure.txt"), "utf8"),
    String(files.stdout),
  ].join("\n---\n");
}

describe.each(FLAVORS)("closures from a binary cache, $title", (flavor) => {
  let ws: Workspace;
  let key: CacheKey;
  let otherKey: CacheKey;
  let server: CacheServer;
  const cacheDir = () => join(ws.root, "cache");
  const diskCache = () => join(ws.root, "disk-cache");
  let plainLock = "";
  let narLock = "";
  const nixBuilt = new Map<string, string>();
  /** The compression of greet's closure (the rest is xz): what the machine's decompressors allow. */
  const altCompression = flavor.id === "bazel4" ? "zstd" : "bzip2";
  const readLock = (): Lock => JSON.parse(ws.read("nixstore.lock.json")) as Lock;
  const lockFlags = (k: CacheKey = key) => ["--binary-cache", server.url, "--public-key", k.publicKey];
  const downloaded = (outputBase: string) => join(outputBase, "nixstore-downloaded/nix/store");

  beforeAll(async () => {
    ws = await makeWorkspace(flavor, { packages: specs(false), build: BUILD, files: { "expect_output.sh": EXPECT_OUTPUT_SH } });
    // Action keys must not hold the client's PATH, and the repository cache is the test's own.
    appendFileSync(
      join(ws.dir, ".bazelrc"),
      ["build", "fetch", "sync", "query"].map((c) => `${c} --repository_cache=${join(ws.root, "repo-cache")}\n`).join("") +
        `build --incompatible_strict_action_env --disk_cache=${diskCache()}\n`,
    );
    key = await makeCacheKey(join(ws.root, "keys"), "rules-nixstore-test-1");
    otherKey = await makeCacheKey(join(ws.root, "keys"), "rules-nixstore-other-1");

    // The machine with Nix: it locks, builds and fills the disk cache.
    const locked = await nixgenLock(ws);
    expect(locked.exitCode, explain(locked)).toBe(0);
    plainLock = ws.read("nixstore.lock.json");
    const built = await ws.bazel(["test", ...TARGETS]);
    expect(built.exitCode, explain(built)).toBe(0);
    for (const name of NAMES) nixBuilt.set(name, await repoSnapshot(ws.repoDir(name)));

    // The cache: greet's closure compressed with zstd (Bazel 4's machine) or bzip2 (Bazel 7's,
    // which has no zstd), the rest with xz; signed with the key.
    const lock = readLock();
    const all = [...new Set(Object.values(lock.packages).flatMap((e) => Object.keys(e.closure)))];
    await copyToCache(flavor, ws.machineCache, lock.packages.greet!.out, cacheDir(), key, altCompression);
    await copyToCache(flavor, ws.machineCache, all, cacheDir(), key, "xz");
    server = await startCacheServer(cacheDir());
  });

  afterAll(async () => {
    await server?.stop();
    await ws?.close();
  });

  test("nixgen lock records every store path's NAR from the cache's signed narinfos; another key or no cache fails naming the paths", async () => {
    const r = await nixgenLock(ws, lockFlags());
    expect(r.exitCode, explain(r)).toBe(0);
    narLock = ws.read("nixstore.lock.json");
    const lock = readLock();
    // The packages' pins are those of the plain lock; the NARs are recorded beside them.
    expect(lock.packages).toEqual((JSON.parse(plainLock) as Lock).packages);
    const paths = [...new Set(Object.values(lock.packages).flatMap((e) => Object.keys(e.closure)))].sort();
    expect(Object.keys(lock.nars!)).toEqual(paths);
    for (const path of paths) {
      const info = readNarInfo(cacheDir(), path);
      const nar = lock.nars![path]!;
      expect(nar).toEqual({
        cache: server.url,
        url: info.URL,
        compression: info.Compression,
        fileHash: info.FileHash,
        fileSize: Number(info.FileSize),
        narHash: info.NarHash,
        narSize: Number(info.NarSize),
        references: (info.References ?? "").split(" ").filter(Boolean).map((b) => `/nix/store/${b}`).sort(),
      });
      expect(nar.narHash).toBe(Object.values(lock.packages).find((e) => path in e.closure)!.closure[path]);
    }
    expect(new Set(Object.values(lock.nars!).map((n) => n.compression))).toEqual(new Set(["xz", altCompression]));

    // Signed by a key the lock was not told to trust: refused, the lock file left as it was.
    const wrong = await nixgenLock(ws, lockFlags(otherKey));
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toContain(`store path(s) of the lock are not served by any configured binary cache (${server.url})`);
    expect(wrong.stderr).toContain(`has no valid signature by the configured key ${otherKey.name} (signed by: ${key.name}`);
    expect(wrong.stderr).toMatch(/\/nix\/store\/[0-9a-z]{32}-busybox \(packages greet, tiny02\)/);
    expect(ws.read("nixstore.lock.json")).toBe(narLock);

    await server.stop();
    try {
      const down = await nixgenLock(ws, lockFlags());
      expect(down.exitCode).toBe(1);
      expect(down.stderr).toContain(`${server.url}: cannot be reached (ECONNREFUSED)`);
    } finally {
      await server.start();
    }
    expect(ws.read("nixstore.lock.json")).toBe(narLock);
  });

  test("with Nix: a package substitutes from the signed cache into the machine cache and the output base's store; another key is refused", async () => {
    const substituting = (trusted: CacheKey): PackageSpec[] => [
      {
        name: "greet",
        nixopts: ["--option", "substituters", server.url, "--option", "trusted-public-keys", trusted.publicKey, "--option", "require-sigs", "true", "--option", "max-jobs", "0"],
      },
    ];
    const other = await makeWorkspace(flavor, { packages: substituting(key), build: "" });
    try {
      server.reset();
      const r = await other.bazel(["build", "@greet//:closure"]);
      expect(r.exitCode, explain(r)).toBe(0);
      const out = readLock().packages.greet!.out.at(-1)!;
      // Fetched from the cache (max-jobs 0: nothing could be built), with the cache's signature.
      expect(server.narRequests().length).toBe(2);
      // In the machine cache with the cache's signature; brought into the output base's store.
      const pathInfo = (store: string) => other.run(["nix", "--extra-experimental-features", "nix-command", "path-info", "--json", "--store", store, out]);
      const cached = await pathInfo(other.machineCache);
      expect(cached.exitCode, explain(cached)).toBe(0);
      expect(String(cached.stdout)).toContain(`${key.name}:`);
      const inOutputBase = await pathInfo(join(other.outputBase, "nixstore"));
      expect(inOutputBase.exitCode, explain(inOutputBase)).toBe(0);

      other.machineCache = join(other.root, "machine-cache-2");
      other.writePackages(substituting(otherKey));
      const refused = await other.bazel(["build", "@greet//:closure"]);
      expect(refused.exitCode, explain(refused)).not.toBe(0);
      expect(refused.all).toContain('nixpkgs_package(name = "greet")');
      // Nix 2.8: "... is not signed by any of the keys in ..."; Nix 2.34: "ignoring substitute ..., as it's not signed by ...".
      expect(refused.all).toMatch(/not signed by any of the keys in 'trusted-public-keys'/);
    } finally {
      await other.close();
    }
  });

  describe("errors, on the machine with Nix's stand-ins (or no Nix at all)", () => {
    let nixless = "";
    /** Refetches tiny02 alone, as a machine whose Nix commands fail, with no repository cache. */
    const refetch = (path = nixless) => ws.refetch(["tiny02"], [`--repo_env=PATH=${path}`, "--repository_cache="]);
    const tiny02 = () => readLock().packages.tiny02!.out.at(-1)!;
    /** Nothing of tiny02 (its own store path) in the download store, and no unpacking left over. */
    const leftNothing = () => {
      const dir = downloaded(ws.outputBase);
      const entries = existsSync(dir) ? readdirSync(dir) : [];
      expect(entries.filter((e) => e.startsWith(".") || tiny02().endsWith(e))).toEqual([]);
      expect(existsSync(join(ws.repoDir("tiny02"), "_nixstore/nars"))).toBe(false);
    };

    beforeAll(() => {
      ws.write("nixstore.lock.json", narLock);
      ws.writePackages(specs(true));
      const log = join(ws.root, "errors-nix-calls.log");
      nixless = `${fakeNix(join(ws.root, "errors"), log)}:${flavor.path}`;
    });
    afterAll(() => {
      server.clearFaults();
      ws.write("nixstore.lock.json", narLock);
    });

    test("a tampered, truncated or broken-off NAR download and an unreachable cache are named; nothing is unpacked", async () => {
      const url = `/${readLock().nars![tiny02()]!.url}`;
      const named = `nixpkgs_package(name = "tiny02"): cannot download the NAR of ${tiny02()} from the binary cache ${server.url} (${server.url}${url}): `;
      const cases: [() => Promise<void>, string, RegExp][] = [
        [async () => server.fault(url, "tamper"), named, /the file the cache serves has sha256 [0-9a-f]{64} \(\d+ bytes\), but the lock pins sha256 [0-9a-f]{64} \(\d+ bytes\), from the cache's signed narinfo: it was tampered with/],
        [async () => server.fault(url, "truncate"), named, /the download is truncated: the cache sent \d+ of its \d+ bytes/],
        [async () => server.fault(url, "cut"), named, /the cache answers, but the download of this file failed/],
        // Unreachable: the first NAR of tiny02's closure to download fails.
        [() => server.stop(), 'nixpkgs_package(name = "tiny02"): cannot download the NAR of /nix/store/', /the binary cache http:\/\/127\.0\.0\.1:\d+ cannot be reached/],
      ];
      for (const [misbehave, message, why] of cases) {
        await misbehave();
        try {
          const r = await refetch();
          expect(r.exitCode, explain(r)).not.toBe(0);
          expect(r.all).toContain(message);
          expect(r.all).toMatch(why);
          leftNothing();
        } finally {
          server.clearFaults();
          await server.start();
        }
      }
    });

    test("without Nix: a missing decompressor, and a lock without cache data, are named", async () => {
      const noTool = pathWithoutNix(join(ws.root, "errors"), flavor, [altCompression]);
      const missing = await refetch(noTool);
      expect(missing.exitCode, explain(missing)).not.toBe(0);
      expect(missing.all).toMatch(new RegExp(`nixpkgs_package\\(name = "tiny02"\\): its closure is downloaded from a binary cache without Nix, and 1 of its NARs are compressed with ${altCompression}, but \`${altCompression}\` is not on PATH`));
      leftNothing();

      ws.write("nixstore.lock.json", plainLock);
      try {
        const plain = await refetch(pathWithoutNix(join(ws.root, "errors"), flavor));
        expect(plain.exitCode, explain(plain)).not.toBe(0);
        expect(plain.all).toContain('nixpkgs_package(name = "tiny02"): Nix is not on PATH, and the lock file //:nixstore.lock.json records no binary cache for 2 of the store paths it pins for this package:');
      } finally {
        ws.write("nixstore.lock.json", narLock);
      }
    });

    test("a NAR that is not the pinned one fails the NAR hash check and leaves nothing half-unpacked", async () => {
      const lock = readLock();
      const greet = lock.packages.greet!.out.at(-1)!;
      // tiny02's record points at greet's NAR (a file whose sha256 the lock pins, but another NAR).
      const edited = structuredClone(lock) as Lock;
      const { url, compression, fileHash, fileSize } = lock.nars![greet]!;
      edited.nars![tiny02()] = { ...lock.nars![tiny02()]!, url, compression, fileHash, fileSize };
      ws.write("nixstore.lock.json", JSON.stringify(edited, null, 2) + "\n");
      try {
        const r = await refetch();
        expect(r.exitCode, explain(r)).not.toBe(0);
        expect(r.all).toContain(`nixpkgs_package(name = "tiny02"): unpacking the NARs downloaded from the binary cache failed; ${tiny02()} (from ${server.url}/${url})`);
        expect(r.all).toMatch(new RegExp(`NAR hash mismatch: the NAR of ${tiny02()} \\(.*\\) has NAR hash sha256:[0-9a-z]{52}, but the lock pins ${lock.packages.tiny02!.closure[tiny02()]}`));
        leftNothing();
      } finally {
        ws.write("nixstore.lock.json", narLock);
      }

      // With the lock right, the same machine without Nix fetches it.
      const ok = await refetch(pathWithoutNix(join(ws.root, "errors"), flavor));
      expect(ok.exitCode, explain(ok)).toBe(0);
      expect(existsSync(join(downloaded(ws.outputBase), tiny02().slice("/nix/store/".length)))).toBe(true);
    });

    test("nixgen doctor says whether this machine can fetch the locked packages without Nix", async () => {
      const doctor = async (path: string) => {
        const [cmd, args] = flavor.command(["env", `PATH=${path}`, "node", NIXGEN, "doctor", "--json", "--workspace", ws.dir, "--output-base", ws.outputBase]);
        const r = await execa(cmd, args, { reject: false, all: true, stdin: "ignore" });
        return JSON.parse(String(r.stdout)) as { ok: boolean; checks: { id: string; status: string; summary: string; detail?: string; fix?: string }[] };
      };
      const check = (report: Awaited<ReturnType<typeof doctor>>, id: string) => report.checks.find((c) => c.id === id);
      const noNix = pathWithoutNix(join(ws.root, "errors"), flavor);
      const good = await doctor(noNix);
      expect(check(good, "binary-cache")).toMatchObject({ status: "ok", summary: expect.stringContaining(`can fetch all 3 locked package(s) without Nix (caches ${server.url} answer; decompressors: `) });
      // Nix is missing, but not needed for this workspace's locked packages.
      expect(check(good, "nix-build")).toMatchObject({ status: "warn", summary: expect.stringContaining("not needed to fetch this workspace's locked packages") });

      const noTool = await doctor(pathWithoutNix(join(ws.root, "errors"), flavor, [altCompression]));
      expect(check(noTool, "binary-cache")).toMatchObject({ status: "fail", detail: expect.stringContaining(`${altCompression} is not on PATH`) });
      await server.stop();
      try {
        const down = await doctor(noNix);
        expect(down.ok).toBe(false);
        expect(check(down, "binary-cache")).toMatchObject({ status: "fail", detail: expect.stringContaining(`${server.url} cannot be reached`) });
      } finally {
        await server.start();
      }
    });

    test.runIf(process.getuid?.() === 0)("remote workers without Nix run the downloaded tools (Buildbarn)", async () => {
      const cluster: ClusterLease = await leaseCluster();
      try {
        const flags = [`--repo_env=PATH=${nixless}`, "--disk_cache=", `--remote_executor=${cluster.endpoint}`, "--remote_instance_name=nixstore", "--spawn_strategy=remote", "--remote_local_fallback=false", "--noremote_accept_cached", "--test_output=errors"];
        // Nothing built here: every action runs on a worker (no /nix, an unprivileged runner).
        await ws.bazel(["clean"]);
        const r = await ws.bazel(["test", ...flags, "--nocache_test_results", ...TARGETS]);
        expect(r.exitCode, explain(r)).toBe(0);
        expect(processes(r.all), explain(r)).toMatch(/\d+ remote(,|\.|$)/);
        expect(ws.bin("hello.txt")).toBe("hello from nix\n");
        for (const name of USED) expect(await repoSnapshot(ws.repoDir(name)), name).toBe(nixBuilt.get(name));
      } finally {
        await cluster.release();
      }
    });
  });

  describe("without Nix", () => {
    let mine: Workspace;
    let uid = 0;
    let nixCalls = () => "";
    let repoPath = "";

    /** Bazel as the unprivileged user, in its own checkout, with the Nix stand-ins first on PATH for repository rules. */
    async function bazel(args: string[], extra: string[] = []): Promise<Result> {
      const [command, ...rest] = args;
      const argv = [flavor.bazel, `--output_base=${mine.outputBase}`, "--max_idle_secs=300", command!, `--repo_env=PATH=${repoPath}`, ...extra, ...rest];
      const as = process.getuid?.() === 0 ? ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--init-groups"] : [];
      const all = [...as, ...argv];
      return execa(all[0]!, all.slice(1), {
        cwd: mine.dir,
        reject: false,
        all: true,
        stdin: "ignore",
        extendEnv: false,
        env: { HOME: join(mine.root, "home"), PATH: flavor.path, USER, RULES_NIXSTORE_MACHINE_CACHE: mine.machineCache },
      });
    }

    beforeAll(async () => {
      const root = join(ws.root, "nix-less");
      mkdirSync(join(root, "home"), { recursive: true });
      mine = new Workspace(root, flavor);
      // Another checkout of the same workspace: its files, the lock with the NARs, no mount pair.
      cpSync(ws.dir, mine.dir, { recursive: true, filter: (src) => !/\/(bazel-[^/]*|\.nixstore\.bazelrc)$/.test(src) });
      mine.write("nixstore.lock.json", narLock);
      mine.writePackages(specs(true));
      mine.write(".bazelrc", mine.read(".bazelrc").replace(join(ws.root, "repo-cache"), join(root, "repo-cache")));
      await mine.writeBazelrc(false);
      const log = join(root, "nix-calls.log");
      writeFileSync(log, "");
      chmodSync(log, 0o666);
      repoPath = `${fakeNix(root, log)}:${flavor.path}`;
      nixCalls = () => readFileSync(log, "utf8");
      if (process.getuid?.() === 0) {
        await run("sh", ["-c", `id ${USER} >/dev/null 2>&1 || useradd --system --create-home ${USER}`]);
        uid = Number((await run("id", ["-u", USER])).stdout);
        await run("chown", ["-R", `${USER}:`, root]);
        // The Nix machine's disk cache, which this one reads (and may update).
        await run("chmod", ["-R", "a+rwX", diskCache()]);
        chmodSync(ws.root, 0o755);
      }
    });
    afterAll(async () => {
      if (mine) await bazel(["shutdown"]);
    });

    test("downloads every locked closure with Bazel's downloader and runs no Nix command; same files and archive as built by Nix; every action a cache hit of the Nix machine's", async () => {
      server.reset();
      const r = await bazel(["test", ...TARGETS]);
      expect(r.exitCode, explain(r)).toBe(0);
      expect(nixCalls()).toBe("");
      const lock = readLock();
      const paths = new Set(USED.flatMap((name) => Object.keys(lock.packages[name]!.closure)));
      expect(server.narRequests().map((s) => s.path).sort()).toEqual([...paths].map((p) => `/${lock.nars![p]!.url}`).sort());
      expect(String(r.all)).toMatch(/\d+ (disk|remote) cache hits?/);
      expect(processes(r.all)).not.toMatch(/linux-sandbox|processwrapper|local|worker/);
      for (const name of USED) expect(await repoSnapshot(mine.repoDir(name)), name).toBe(nixBuilt.get(name));
      expect(readdirSync(downloaded(mine.outputBase)).filter((e) => e.startsWith("."))).toEqual([]);

      // The same actions run here too: in the linux-sandbox, without the mount pair (launchers map).
      const again = await bazel(["test", ...TARGETS], ["--disk_cache=", "--spawn_strategy=linux-sandbox", "--nocache_test_results"]);
      expect(again.exitCode, explain(again)).toBe(0);
      expect(readFileSync(join(mine.dir, "bazel-bin/greet.txt"), "utf8")).toBe("greet from nix downloaded\n");
      expect(readFileSync(join(mine.dir, "bazel-bin/hello.txt"), "utf8")).toBe("hello from nix\n");
    });

    test("after bazel clean --expunge, a refetch downloads nothing: the repository cache holds every NAR", async () => {
      const expunge = await bazel(["clean", "--expunge"]);
      expect(expunge.exitCode, explain(expunge)).toBe(0);
      server.reset();
      const started = Date.now();
      const r = await bazel(["build", "--nobuild", ...TARGETS]);
      expect(r.exitCode, explain(r)).toBe(0);
      console.log(`${flavor.id}: refetch of ${USED.length} packages after clean --expunge: ${Date.now() - started} ms, ${server.bytes()} bytes downloaded`);
      expect(server.log).toEqual([]);
      expect(nixCalls()).toBe("");
      for (const name of USED) expect(await repoSnapshot(mine.repoDir(name)), name).toBe(nixBuilt.get(name));
    });
  });
});
