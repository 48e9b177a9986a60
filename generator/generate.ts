import fs from "node:fs";
import path from "node:path";
import { REFRESH_COMMAND } from "./model/index.js";
import { renderLibrary } from "./library.js";
import { packageVersion, templatesDir } from "./package-root.js";
import { createRenderer } from "./render/index.js";
import { checkFiles, type StaleFile } from "./write/index.js";

/** A MODULE.bazel that declares the rules_nixstore module. */
const MODULE_DECLARATION = /\bmodule\s*\([^)]*\bname\s*=\s*["']rules_nixstore["']/s;

/** Whether `dir` is the rules_nixstore root (its MODULE.bazel declares the module). */
export function isRulesRoot(dir: string): boolean {
  try {
    return MODULE_DECLARATION.test(fs.readFileSync(path.join(dir, "MODULE.bazel"), "utf8"));
  } catch {
    return false;
  }
}

/** The files that make a directory a Bazel workspace (WORKSPACE or bzlmod), in this order. */
export const WORKSPACE_MARKERS = ["WORKSPACE", "WORKSPACE.bazel", "MODULE.bazel"] as const;

/** Which of WORKSPACE_MARKERS `dir` has (the first found), or null: is it a Bazel workspace? */
export function workspaceMarker(dir: string): string | null {
  return WORKSPACE_MARKERS.find((f) => fs.existsSync(path.join(dir, f))) ?? null;
}

/**
 * Walks from `start` up to the file system root and returns the first non-null `visit(dir)`,
 * or null.
 */
export function findUpwards<T>(start: string, visit: (dir: string) => T | null): T | null {
  let dir = path.resolve(start);
  for (;;) {
    const found = visit(dir);
    if (found !== null) return found;
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** Renders the rule library's outputs from the model and the package's templates. */
export function renderLibraryFiles() {
  return renderLibrary(createRenderer(templatesDir()), packageVersion());
}

/** Lists the rule library's generated files under `root` that are stale or missing. */
export function checkLibrary(root: string): StaleFile[] {
  return checkFiles(root, renderLibraryFiles());
}

/** The message `--check` prints for stale files. */
export function staleReport(stale: readonly StaleFile[], refresh: string = REFRESH_COMMAND): string {
  const lines = stale.map(
    (s) =>
      `  ${s.path}  (${
        s.reason === "missing"
          ? "missing"
          : s.reason === "obsolete"
            ? "no longer generated: the refresh deletes it"
            : "differs from the generator's output"
      })`,
  );
  const noun = stale.length === 1 ? "file is" : "files are";
  return [
    `nixgen: ${stale.length} generated ${noun} out of date:`,
    ...lines,
    `Refresh with: ${refresh}`,
  ].join("\n");
}
