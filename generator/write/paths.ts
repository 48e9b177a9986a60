import fs from "node:fs";
import path from "node:path";

/** Raised when a generated file's path would land outside the output root. */
export class OutsideRootError extends Error {
  constructor(root: string, file: string, detail: string) {
    super(`refusing to write ${JSON.stringify(file)}: ${detail} (output root ${root})`);
    this.name = "OutsideRootError";
  }
}

function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}

/**
 * Resolves `file` (a relative path) against `root`, refusing absolute paths and paths that
 * leave `root` lexically (`../x`) or through a symlinked directory that already exists.
 */
export function resolveInsideRoot(root: string, file: string): string {
  const absRoot = path.resolve(root);
  if (file === "" || path.isAbsolute(file)) {
    throw new OutsideRootError(absRoot, file, "generated paths must be relative");
  }
  const target = path.resolve(absRoot, file);
  if (!isInside(absRoot, target)) {
    throw new OutsideRootError(absRoot, file, "the path leaves the output root");
  }
  // The nearest existing ancestor decides where the bytes really land.
  let ancestor = path.dirname(target);
  while (!fs.existsSync(ancestor) && ancestor !== path.dirname(ancestor)) {
    ancestor = path.dirname(ancestor);
  }
  const realRoot = fs.realpathSync(absRoot);
  const realAncestor = fs.realpathSync(ancestor);
  if (realAncestor !== realRoot && !isInside(realRoot, realAncestor)) {
    throw new OutsideRootError(absRoot, file, `${ancestor} resolves to ${realAncestor}`);
  }
  return target;
}
