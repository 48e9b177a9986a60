// Every package repository carries `_nixstore/enter`, compiled from rules/private/nixstore_enter.c
// with `cc -static`. It is compiled once per output base into <output_base>/nixstore/.cache/enter
// (rules/private/enter_cache.bzl) and copied into each repository. This proves, with real Bazel
// and a `cc` on the repository rules' PATH that logs every invocation, that several packages
// fetched at once compile it once, that every repository holds a regular byte-identical copy, that
// a corrupted cache entry is not used, and that a cache that cannot be written falls back to
// compiling into the repository.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FLAVORS, explain, makeWorkspace, type Workspace } from "./harness.js";

const NAMES = ["tiny01", "tiny02", "tiny03", "tiny04", "tiny05", "tiny06"];

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

describe.each(FLAVORS)("the launcher helper enter is compiled once per output base, $title", (flavor) => {
  let ws: Workspace;
  let ccLog: string;
  let cacheRoot: string;

  /** Compiler runs logged by the wrapper (its `--version` calls are not compiles). */
  const compiles = () =>
    readFileSync(ccLog, "utf8")
      .split("\n")
      .filter((line) => line.split(" ").includes("-static"));
  const entries = () => readdirSync(cacheRoot);
  const repoEnter = (name: string) => join(ws.repoDir(name), "_nixstore/enter");

  /** `bazel run` of a package's launcher: outside the sandbox, /nix/store does not show the program, so it goes through enter. */
  async function runs(name: string): Promise<void> {
    const result = await ws.bazel(["run", `@${name}//:bin/${name}`]);
    expect(result.exitCode, explain(result)).toBe(0);
    expect(String(result.stdout).trim()).toBe(name);
  }

  beforeAll(async () => {
    ws = await makeWorkspace(flavor, {
      packages: NAMES.map((name) => ({ name })),
      build: NAMES.map(
        (n) => `genrule(name = "${n}_out", outs = ["${n}.txt"], tools = ["@${n}//:bin/${n}"], cmd = "$(location @${n}//:bin/${n}) > $@")\n`,
      ).join(""),
    });
    // A `cc` first on the repository rules' PATH that logs its arguments and runs the real one.
    const wrapperDir = join(ws.root, "cc-wrapper");
    ccLog = join(ws.root, "cc.log");
    const realCc = String((await ws.run(["sh", "-c", "command -v cc"])).stdout).trim();
    mkdirSync(wrapperDir);
    writeFileSync(ccLog, "");
    writeFileSync(join(wrapperDir, "cc"), `#!/bin/sh\necho "$*" >> '${ccLog}'\nexec '${realCc}' "$@"\n`, { mode: 0o755 });
    const repoEnv = `--repo_env=PATH=${wrapperDir}:${flavor.path}`;
    ws.write(".bazelrc", ws.read(".bazelrc") + ["build", "sync", "fetch"].map((c) => `${c} ${repoEnv}\n`).join(""));
    cacheRoot = join(ws.outputBase, "nixstore/.cache/enter");
  });

  afterAll(async () => {
    await ws?.close();
  });

  test("packages fetched at once compile it once, and each repository holds a regular copy", async () => {
    const result = await ws.bazel(["build", `--loading_phase_threads=${NAMES.length}`, "//..."]);
    expect(result.exitCode, explain(result)).toBe(0);
    for (const n of NAMES) expect(ws.bin(`${n}.txt`)).toBe(`${n}\n`);

    expect(compiles(), "compiler runs").toHaveLength(1);
    expect(entries(), "cache entries").toHaveLength(1);
    const entry = join(cacheRoot, entries()[0]);
    expect(readdirSync(entry).sort(), "files of the entry (no temp files left)").toEqual(["enter", "enter.sha256", "lock"]);
    const cached = readFileSync(join(entry, "enter"));
    expect(cached.length).toBeGreaterThan(0);
    expect(readFileSync(join(entry, "enter.sha256"), "utf8").trim()).toBe(sha256(cached));
    for (const n of NAMES) {
      const stat = lstatSync(repoEnter(n));
      expect(stat.isFile(), `${n}: a regular file, not a link`).toBe(true);
      expect(stat.mode & 0o111, `${n}: executable`).toBe(0o111);
      expect(readFileSync(repoEnter(n)).equals(cached), `${n}: identical to the cache`).toBe(true);
    }
    await runs("tiny01");
  });

  test("a corrupted cache entry is not used: it is compiled again", async () => {
    const entry = join(cacheRoot, entries()[0]);
    const good = readFileSync(join(entry, "enter"));
    // Half a binary: still executable and non-empty, so only the recorded sha256 tells.
    truncateSync(join(entry, "enter"), Math.floor(good.length / 2));
    const before = compiles().length;

    const result = await ws.refetch(["tiny01"]);
    expect(result.exitCode, explain(result)).toBe(0);

    expect(compiles().length, "compiled again").toBe(before + 1);
    expect(entries()).toHaveLength(1);
    const cached = readFileSync(join(entry, "enter"));
    expect(cached.length).toBeGreaterThan(Math.floor(good.length / 2));
    expect(readFileSync(join(entry, "enter.sha256"), "utf8").trim()).toBe(sha256(cached));
    expect(readFileSync(repoEnter("tiny01")).equals(cached)).toBe(true);
    await runs("tiny01");
  });

  test("a cache that cannot be written falls back to compiling into the repository", async () => {
    // A file where the cache directory should be: mkdir -p fails.
    rmSync(cacheRoot, { recursive: true, force: true });
    writeFileSync(cacheRoot, "not a directory\n");
    const before = compiles().length;

    const result = await ws.refetch(["tiny02"]);
    expect(result.exitCode, explain(result)).toBe(0);

    expect(compiles().length, "compiled into the repository").toBe(before + 1);
    expect(compiles().at(-1)).toContain(join(ws.repoDir("tiny02"), "_nixstore/enter"));
    expect(lstatSync(repoEnter("tiny02")).isFile()).toBe(true);
    await runs("tiny02");
    rmSync(cacheRoot, { force: true });
    expect(existsSync(cacheRoot)).toBe(false);
  });
});
