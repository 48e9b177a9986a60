import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { checkFiles, writeFiles, type OutputFile } from "../../generator/write/index.js";
import { tempDir } from "./support.js";

const FILES: OutputFile[] = [
  { path: "rules/private/a.bzl", content: '"""A."""\n' },
  { path: "rules/private/b.bzl", content: '"""B — non-ASCII."""\n' },
  { path: "top.txt", content: new Uint8Array([1, 2, 3]) },
];

function mtimes(root: string): number[] {
  return FILES.map((f) => fs.statSync(path.join(root, f.path)).mtimeMs);
}

function listAll(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

describe("writeFiles", () => {
  it("creates missing files and directories with the exact bytes", () => {
    const root = tempDir();
    expect(writeFiles(root, FILES)).toEqual({ written: FILES.map((f) => f.path), unchanged: [] });
    expect(fs.readFileSync(path.join(root, "rules/private/b.bzl"), "utf8")).toBe('"""B — non-ASCII."""\n');
    expect([...fs.readFileSync(path.join(root, "top.txt"))]).toEqual([1, 2, 3]);
    expect(fs.statSync(path.join(root, "top.txt")).mode & 0o777).toBe(0o644);
  });

  it("is idempotent: a second run writes nothing and leaves mtimes unchanged", async () => {
    const root = tempDir();
    writeFiles(root, FILES);
    const past = new Date(Date.now() - 60_000);
    for (const f of FILES) fs.utimesSync(path.join(root, f.path), past, past);
    const before = mtimes(root);
    expect(writeFiles(root, FILES)).toEqual({ written: [], unchanged: FILES.map((f) => f.path) });
    expect(mtimes(root)).toEqual(before);
  });

  it("rewrites only the file whose bytes changed", () => {
    const root = tempDir();
    writeFiles(root, FILES);
    const changed = FILES.map((f) => (f.path === "top.txt" ? { ...f, content: "new\n" } : f));
    expect(writeFiles(root, changed).written).toEqual(["top.txt"]);
    expect(fs.readFileSync(path.join(root, "top.txt"), "utf8")).toBe("new\n");
  });

  it("refuses paths outside the output root, before writing anything", () => {
    const root = tempDir();
    for (const bad of ["../escape.txt", "rules/../../escape.txt", "/tmp/abs.txt", ""]) {
      expect(() => writeFiles(root, [FILES[0] as OutputFile, { path: bad, content: "x" }])).toThrow(
        /refusing to write/,
      );
    }
    expect(listAll(root)).toEqual([]);
    expect(fs.existsSync(path.join(path.dirname(root), "escape.txt"))).toBe(false);
  });

  it("refuses to write through a symlinked directory that leads outside the root", () => {
    const root = tempDir();
    const outside = tempDir();
    fs.symlinkSync(outside, path.join(root, "link"));
    expect(() => writeFiles(root, [{ path: "link/sub/x.txt", content: "x" }])).toThrow(
      /refusing to write "link\/sub\/x.txt"/,
    );
    expect(listAll(outside)).toEqual([]);
  });

  it("writes atomically: a failed write leaves neither a partial file nor a temp file", () => {
    const root = tempDir();
    // A directory where the file should go makes the final rename fail.
    fs.mkdirSync(path.join(root, "rules/private/a.bzl"), { recursive: true });
    expect(() => writeFiles(root, [FILES[0] as OutputFile])).toThrow();
    expect(listAll(path.join(root, "rules/private"))).toEqual(["a.bzl"]);
    expect(fs.statSync(path.join(root, "rules/private/a.bzl")).isDirectory()).toBe(true);
  });
});

describe("checkFiles (--check)", () => {
  it("reports nothing when every file matches byte for byte", () => {
    const root = tempDir();
    writeFiles(root, FILES);
    expect(checkFiles(root, FILES)).toEqual([]);
  });

  it("detects a hand-edited file and a missing file, and writes nothing", () => {
    const root = tempDir();
    writeFiles(root, FILES);
    fs.appendFileSync(path.join(root, "rules/private/a.bzl"), "# hand edit\n");
    fs.rmSync(path.join(root, "top.txt"));
    expect(checkFiles(root, FILES)).toEqual([
      { path: "rules/private/a.bzl", reason: "stale" },
      { path: "top.txt", reason: "missing" },
    ]);
    expect(fs.existsSync(path.join(root, "top.txt"))).toBe(false);
  });

  it("treats a whitespace-only difference as stale (bytes, not text, are compared)", () => {
    const root = tempDir();
    writeFiles(root, FILES);
    fs.writeFileSync(path.join(root, "rules/private/a.bzl"), '"""A."""\r\n');
    expect(checkFiles(root, FILES)).toEqual([{ path: "rules/private/a.bzl", reason: "stale" }]);
  });
});
