// Every package repository carries `_nixstore/enter`, the launcher helper: the checked-in static
// binary rules/private/enter/<platform>/enter for the host's architecture (built by
// scripts/build-enter.sh with a pinned Zig), copied as a regular file and checked against its
// sha256 in rules/private/enter/pins.bzl. No repository rule compiles anything.
//
// This proves, with real Bazel on both machines, that a host whose repository rules see no C
// compiler at all (a PATH of links to the machine's tools, minus every compiler) fetches packages
// and runs their programs through `enter`; that every repository holds a regular, byte-identical
// copy of the checked-in binary — the same bytes on both machines, whose own compilers differ (gcc
// 12 on the host, gcc 16 in the sid root); and that a checked-in binary which does not match its pin
// fails the fetch, naming the file and the fix.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { cpSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { arch } from "node:os";
import { join } from "node:path";
import { FLAVORS, REPO_ROOT, explain, makeWorkspace, type Flavor, type Workspace } from "./harness.js";

const NAMES = ["tiny01", "tiny02", "tiny03", "tiny04", "tiny05", "tiny06"];
const PLATFORM = { x64: "x86_64-linux", arm64: "aarch64-linux" }[arch()] ?? `unsupported-${arch()}`;
const CHECKED_IN = join(REPO_ROOT, "rules/private/enter", PLATFORM, "enter");
/** getcap (Debian: libcap2-bin, which scripts/setup.sh installs): required, not optional. */
const GETCAP = ["/usr/sbin/getcap", "/sbin/getcap"].find((p) => existsSync(p));

/** Names of C (and C++) compiler drivers, as Debian installs them: cc, gcc-12, x86_64-linux-gnu-gcc, c99-gcc, clang-16, ... */
const COMPILER = /(^|-)(cc|c89|c99|gcc|g\+\+|c\+\+|cpp|clang|clang\+\+|tcc|pcc|icc|icx|zig)(-[\d.]+)?$/;

/**
 * A directory of links to every command on the machine's PATH except the compilers (paths as the
 * machine sees them: for Bazel 7, those of the sid root). Returns it and the names left out.
 */
function pathWithoutCompilers(flavor: Flavor, dir: string): { dir: string; left: string[] } {
  mkdirSync(dir, { recursive: true });
  const left = new Set<string>();
  for (const bin of flavor.path.split(":")) {
    const onHost = join(flavor.rootDir || "/", bin);
    if (!existsSync(onHost)) continue;
    for (const name of readdirSync(onHost)) {
      if (COMPILER.test(name)) left.add(name);
      else if (!existsSync(join(dir, name)) && !lstatExists(join(dir, name))) symlinkSync(join(bin, name), join(dir, name));
    }
  }
  return { dir, left: [...left].sort() };
}

function lstatExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

describe.each(FLAVORS)("the launcher helper enter is prebuilt, pinned and needs no compiler, $title", (flavor) => {
  let ws: Workspace;
  let noCc: { dir: string; left: string[] };
  const repoEnter = (name: string) => join(ws.repoDir(name), "_nixstore/enter");

  beforeAll(async () => {
    ws = await makeWorkspace(flavor, {
      packages: NAMES.map((name) => ({ name })),
      build: NAMES.map(
        (n) => `genrule(name = "${n}_out", outs = ["${n}.txt"], tools = ["@${n}//:bin/${n}"], cmd = "$(location @${n}//:bin/${n}) > $@")\n`,
      ).join(""),
    });
    noCc = pathWithoutCompilers(flavor, join(ws.root, "no-cc-bin"));
    const repoEnv = `--repo_env=PATH=${noCc.dir}`;
    ws.write(".bazelrc", ws.read(".bazelrc") + ["build", "sync", "fetch", "run"].map((c) => `${c} ${repoEnv}\n`).join(""));
  });

  afterAll(async () => {
    await ws?.close();
  });

  test("the repository rules' PATH holds Nix and the usual tools, and no C compiler", async () => {
    expect(noCc.left, "compilers left out").toEqual(expect.arrayContaining(["cc", "gcc"]));
    const probe = await ws.run([
      "/usr/bin/env",
      `PATH=${noCc.dir}`,
      "sh",
      "-c",
      'for c in cc gcc clang tcc c89 c99 cpp; do if command -v "$c"; then exit 1; fi; done; command -v nix-build; command -v sha256sum',
    ]);
    expect(probe.exitCode, explain(probe)).toBe(0);
    expect(String(probe.stdout).split("\n")).toEqual([join(noCc.dir, "nix-build"), join(noCc.dir, "sha256sum")]);
  });

  test("packages fetched at once build and run, each repository holding a regular copy of the checked-in binary", async () => {
    const result = await ws.bazel(["build", `--loading_phase_threads=${NAMES.length}`, "//..."]);
    expect(result.exitCode, explain(result)).toBe(0);
    for (const n of NAMES) expect(ws.bin(`${n}.txt`)).toBe(`${n}\n`);

    const checkedIn = readFileSync(CHECKED_IN);
    for (const n of NAMES) {
      const stat = lstatSync(repoEnter(n));
      expect(stat.isFile(), `${n}: a regular file, not a link`).toBe(true);
      expect(stat.mode & 0o111, `${n}: executable by anyone`).toBe(0o111);
      // What every action runs needs no privilege: neither setuid nor setgid, nor file
      // capabilities (getcap prints nothing for a file without them).
      expect(stat.mode & 0o6000, `${n}: neither setuid nor setgid`).toBe(0);
      expect(GETCAP, "getcap is not installed (Debian: libcap2-bin; scripts/setup.sh installs it)").toBeDefined();
      const caps = await execa(GETCAP!, [repoEnter(n)], { reject: false });
      expect(caps.exitCode, `${n}: getcap ${caps.stderr}`).toBe(0);
      expect(caps.stdout.trim(), `${n}: file capabilities`).toBe("");
      expect(readFileSync(repoEnter(n)).equals(checkedIn), `${n}: the bytes of ${CHECKED_IN}`).toBe(true);
    }
    // Nothing was compiled or cached per output base any more.
    expect(existsSync(join(ws.outputBase, "nixstore/.cache/enter"))).toBe(false);

    // `bazel run` is outside the sandbox: /nix/store does not show the program, so enter maps it.
    const run = await ws.bazel(["run", "@tiny01//:bin/tiny01"]);
    expect(run.exitCode, explain(run)).toBe(0);
    expect(String(run.stdout).trim()).toBe("tiny01");
  });

  test("a checked-in binary that does not match its pin fails the fetch, naming the file and the fix", async () => {
    // A copy of rules_nixstore whose binary has one byte changed, used by this workspace.
    const copy = join(ws.root, "rules_nixstore");
    for (const f of ["MODULE.bazel", "WORKSPACE", "rules"]) cpSync(join(REPO_ROOT, f), join(copy, f), { recursive: true });
    const binary = join(copy, "rules/private/enter", PLATFORM, "enter");
    const bytes = readFileSync(binary);
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(binary, bytes, { mode: 0o755 });
    const file = flavor.bzlmod ? "MODULE.bazel" : "WORKSPACE";
    ws.write(file, ws.read(file).replace(JSON.stringify(REPO_ROOT), JSON.stringify(copy)));

    // Bazel's downloader copies the binary and checks the pin. With the pinned bytes in the
    // repository cache (the fetches above put them there) it installs those: the pinned binary,
    // never the changed one.
    const cached = await ws.refetch(["tiny01"]);
    expect(cached.exitCode, explain(cached)).toBe(0);
    expect(readFileSync(repoEnter("tiny01")).equals(readFileSync(CHECKED_IN)), "the pinned bytes").toBe(true);
    // Without them (a new machine), the changed binary fails the fetch.
    const result = await ws.refetch(["tiny01"], ["--repository_cache="]);
    expect(result.exitCode, explain(result)).not.toBe(0);
    const all = String(result.all);
    const pin = readFileSync(join(REPO_ROOT, "rules/private/enter/pins.bzl"), "utf8").match(new RegExp(`"${PLATFORM}": "([0-9a-f]{64})"`))![1];
    // The file as Bazel reached it (Bazel 7: through <output_base>/external/rules_nixstore~).
    expect(all).toMatch(new RegExp(`nixpkgs_package\\(name = "tiny01"\\): the launcher helper /\\S+/rules/private/enter/${PLATFORM}/enter does not have the sha256 that rules/private/enter/pins.bzl pins for ${PLATFORM} \\(${pin}\\)`));
    expect(all).toContain("Fix: run scripts/build-enter.sh in rules_nixstore and commit what it writes");
  });
});
