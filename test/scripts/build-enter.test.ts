// scripts/build-enter.sh and the launcher helper it builds: the checked-in binaries
// rules/private/enter/<platform>/enter and their pins (rules/private/enter/pins.bzl) are exactly
// what the script builds from rules/private/nixstore_enter.c with the pinned Zig — rebuilt here,
// in other directories and at another time — and they are static, stripped, free of this
// machine's paths, and run.
//
// The first run on a machine downloads the Zig wheel (100 MB, from PyPI with pip) into
// ~/.cache/rules_nixstore and builds musl for both targets (about a minute each); later runs take
// seconds.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { NAR_CACHE_PREFIX } from "../../generator/model/index.js";
import { REPO_ROOT } from "../integration/flavors.js";

const SCRIPT = join(REPO_ROOT, "scripts/build-enter.sh");
const CHECKED_IN = join(REPO_ROOT, "rules/private/enter");
const SOURCE = join(REPO_ROOT, "rules/private/nixstore_enter.c");
/** Each platform and its ELF e_machine. */
const PLATFORMS = { "x86_64-linux": 62, "aarch64-linux": 183 } as const;
const FILES = [...Object.keys(PLATFORMS).map((p) => `${p}/enter`), "pins.bzl"];
const HOST_PLATFORM = { x64: "x86_64-linux", arm64: "aarch64-linux" }[process.arch as string];

const build = (args: string[], cwd: string) =>
  execa(SCRIPT, args, { reject: false, all: true, stdin: "ignore", cwd, timeout: 15 * 60 * 1000 });

/** Program header types of a 64-bit little-endian ELF file. */
function programHeaderTypes(elf: Buffer): number[] {
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const size = elf.readUInt16LE(0x36);
  const count = elf.readUInt16LE(0x38);
  return Array.from({ length: count }, (_, i) => elf.readUInt32LE(phoff + i * size));
}

/** Section names of a 64-bit little-endian ELF file. */
function sectionNames(elf: Buffer): string[] {
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const size = elf.readUInt16LE(0x3a);
  const count = elf.readUInt16LE(0x3c);
  const strtab = shoff + elf.readUInt16LE(0x3e) * size;
  const strOff = Number(elf.readBigUInt64LE(strtab + 0x18));
  return Array.from({ length: count }, (_, i) => {
    const name = elf.readUInt32LE(shoff + i * size);
    return elf.subarray(strOff + name, elf.indexOf(0, strOff + name)).toString("latin1");
  });
}

describe("scripts/build-enter.sh and the checked-in enter binaries", () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "nixstore-build-enter-"));
  });
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  test("rebuilding them from nixstore_enter.c gives the checked-in bytes, and the pins", async () => {
    const out = join(tmp, "rebuilt");
    const r = await build([out], tmp);
    expect(r.exitCode, r.all).toBe(0);
    for (const f of FILES) {
      const same = readFileSync(join(out, f)).equals(readFileSync(join(CHECKED_IN, f)));
      expect(
        same,
        `rules/private/enter/${f} is not what scripts/build-enter.sh builds from rules/private/nixstore_enter.c ` +
          `(rebuilt: ${join(out, f)}). Run scripts/build-enter.sh and commit rules/private/enter.`,
      ).toBe(true);
    }
  });

  test("the bytes depend on the source, not on where it is or where they are written", async () => {
    // The source under another, deeper path; output elsewhere; run from yet another directory.
    const src = join(tmp, "some/other/checkout/rules/private/nixstore_enter.c");
    mkdirSync(join(src, ".."), { recursive: true });
    cpSync(SOURCE, src);
    const out = join(tmp, "elsewhere/out");
    const cwd = join(tmp, "cwd");
    mkdirSync(cwd);
    const r = await build([out, src], cwd);
    expect(r.exitCode, r.all).toBe(0);
    for (const f of FILES) expect(readFileSync(join(out, f)).equals(readFileSync(join(CHECKED_IN, f))), f).toBe(true);
  });

  test("they are static, stripped ELF executables for their machine, holding no path of this one", () => {
    for (const [platform, machine] of Object.entries(PLATFORMS)) {
      const elf = readFileSync(join(CHECKED_IN, platform, "enter"));
      expect(elf.subarray(0, 4).toString("latin1"), platform).toBe("\x7fELF");
      expect(elf[4], `${platform}: 64-bit`).toBe(2);
      expect(elf.readUInt16LE(0x10), `${platform}: ET_EXEC (static, not PIE)`).toBe(2);
      expect(elf.readUInt16LE(0x12), `${platform}: e_machine`).toBe(machine);
      expect(programHeaderTypes(elf), `${platform}: no PT_INTERP (static)`).not.toContain(3);
      expect(programHeaderTypes(elf), `${platform}: no PT_DYNAMIC`).not.toContain(2);
      const sections = sectionNames(elf);
      expect(sections, `${platform}: stripped`).not.toContain(".symtab");
      expect(sections.filter((s) => s.startsWith(".debug")), platform).toEqual([]);
      expect(sections, `${platform}: no build-id`).not.toContain(".note.gnu.build-id");
      expect(elf.length, `${platform}: small`).toBeLessThan(256 * 1024);
      // The launcher's own cache of unpacked closures (packed_closure) is the one path it names.
      const text = elf.toString("latin1").replaceAll(NAR_CACHE_PREFIX, "");
      for (const path of [REPO_ROOT, homedir(), tmpdir() + "/", "nixstore_enter.c"]) {
        expect(text.includes(path), `${platform} holds ${path}`).toBe(false);
      }
    }
  });

  test.runIf(HOST_PLATFORM)("the host's binary runs: without arguments it prints its usage and exits 2", async () => {
    const r = await execa(join(CHECKED_IN, HOST_PLATFORM!, "enter"), [], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^usage: \S+ <closure-dir> <program> \[args\.\.\.\]$/);
  });

  test("--zig runs the pinned zig", async () => {
    const r = await build(["--zig", "version"], tmp);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toBe("0.17.1");
  });
});
