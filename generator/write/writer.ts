import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { resolveInsideRoot } from "./paths.js";

/** One generated file: its path relative to the output root and its final content. */
export interface OutputFile {
  /** Relative path with forward slashes, e.g. "rules/private/attrs.bzl". */
  readonly path: string;
  readonly content: string | Uint8Array;
  /** Permission bits for a newly created file; default 0o644. */
  readonly mode?: number;
}

export interface WriteResult {
  /** Files whose bytes changed or that did not exist. */
  readonly written: string[];
  /** Files already identical on disk; not touched (mtime unchanged). */
  readonly unchanged: string[];
}

/** `obsolete`: a file nixgen wrote earlier that the current config no longer generates. */
export type StaleReason = "missing" | "stale" | "obsolete";

export interface StaleFile {
  readonly path: string;
  readonly reason: StaleReason;
}

function bytesOf(file: OutputFile): Buffer {
  return typeof file.content === "string"
    ? Buffer.from(file.content, "utf8")
    : Buffer.from(file.content);
}

/** The bytes on disk, or null when there is no file. */
function readExisting(target: string): Buffer | null {
  try {
    return fs.readFileSync(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

/** Writes `bytes` to `target` through a temporary sibling and a rename. */
function writeAtomically(target: string, bytes: Buffer, mode: number): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = path.join(
    path.dirname(target),
    `.${path.basename(target)}.nixgen-${process.pid}-${crypto.randomBytes(4).toString("hex")}.tmp`,
  );
  try {
    const fd = fs.openSync(tmp, "wx", mode);
    try {
      fs.writeFileSync(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.chmodSync(tmp, mode); // openSync's mode is filtered by the umask
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Writes `files` under `root`. Every path is checked before anything is written, files whose
 * bytes already match are left alone, and each write is atomic (temporary file + rename), so
 * a failure never leaves a half-written file.
 */
export function writeFiles(root: string, files: readonly OutputFile[]): WriteResult {
  const targets = files.map((f) => resolveInsideRoot(root, f.path));
  const result: WriteResult = { written: [], unchanged: [] };
  files.forEach((file, i) => {
    const target = targets[i] as string;
    const bytes = bytesOf(file);
    const existing = readExisting(target);
    if (existing !== null && existing.equals(bytes)) {
      result.unchanged.push(file.path);
    } else {
      writeAtomically(target, bytes, file.mode ?? 0o644);
      result.written.push(file.path);
    }
  });
  return result;
}

/**
 * Compares `files` byte for byte with what is under `root` and returns those that are
 * missing or differ; writes nothing.
 */
export function checkFiles(root: string, files: readonly OutputFile[]): StaleFile[] {
  const stale: StaleFile[] = [];
  for (const file of files) {
    const existing = readExisting(resolveInsideRoot(root, file.path));
    if (existing === null) stale.push({ path: file.path, reason: "missing" });
    else if (!existing.equals(bytesOf(file))) stale.push({ path: file.path, reason: "stale" });
  }
  return stale;
}

/**
 * Of `candidates` (paths relative to `root` that nixgen may generate), those that exist and
 * whose first line carries `header`: files nixgen wrote earlier. Files without the header are
 * the user's and never reported or removed.
 */
export function generatedFilesPresent(root: string, candidates: readonly string[], header: string): string[] {
  return candidates.filter((p) => {
    const existing = readExisting(resolveInsideRoot(root, p));
    if (existing === null) return false;
    const firstLine = existing.subarray(0, 512).toString("utf8").split("\n")[0] ?? "";
    return firstLine.includes(header);
  });
}

/** Removes files (paths relative to `root`) that nixgen generated earlier. */
export function removeFiles(root: string, paths: readonly string[]): void {
  for (const p of paths) fs.rmSync(resolveInsideRoot(root, p), { force: true });
}

