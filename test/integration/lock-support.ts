// Helpers of the lock tests and the lock benchmark: an evaluation counter and `nixgen lock`.
// The counter is a measuring device, not a mock: its nix-build and nix-instantiate append a
// line to a log, then exec the real Nix.
import type { Result } from "execa";
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BAZEL4, type Flavor, type Workspace } from "./harness.js";


export interface EvalCounter {
  /** Directory to put first on the repository rules' PATH. */
  readonly bin: string;
  /** Evaluations (nix-build and nix-instantiate runs) since the last reset. */
  count(): number;
  /** The logged command lines since the last reset. */
  lines(): string[];
  reset(): void;
}

/** Where `cmd` is on the machine's PATH (as the machine sees it). */
function which(cmd: string, flavor: Flavor): string {
  for (const dir of flavor.path.split(":")) {
    const p = join(dir, cmd);
    if (dir && existsSync(join(flavor.rootDir || "/", p))) return p;
  }
  throw new Error(`${cmd} is not on the PATH of ${flavor.title}`);
}

/**
 * Creates wrapper nix-build/nix-instantiate under `dir` that count their runs. `dir` must be
 * where the machine sees it at the same path (under /tmp).
 */
export function makeEvalCounter(dir: string, flavor: Flavor = BAZEL4): EvalCounter {
  const bin = join(dir, "bin");
  const log = join(dir, "evaluations.log");
  mkdirSync(bin, { recursive: true });
  writeFileSync(log, "");
  for (const cmd of ["nix-build", "nix-instantiate"]) {
    const real = which(cmd, flavor);
    writeFileSync(
      join(bin, cmd),
      `#!/bin/sh\necho "${cmd} $*" >> '${log}'\nexec '${real}' "$@"\n`,
    );
    chmodSync(join(bin, cmd), 0o755);
  }
  const lines = () => readFileSync(log, "utf8").split("\n").filter(Boolean);
  return {
    bin,
    lines,
    count: () => lines().length,
    reset: () => writeFileSync(log, ""),
  };
}

/** Makes every Bazel command of the workspace give repository rules the counter's PATH. */
export function useEvalCounter(ws: Workspace, counter: EvalCounter): void {
  const path = `${counter.bin}:${ws.flavor.path}`;
  const lines = ["build", "fetch", "sync", "query"].map((c) => `${c} --repo_env=PATH=${path}\n`);
  appendFileSync(join(ws.dir, ".bazelrc"), lines.join(""));
}

/** Runs the real `nixgen lock` for the workspace (its output base given). */
export async function nixgenLock(ws: Workspace, args: string[] = []): Promise<Result> {
  return ws.nixgen(["lock", "--workspace", ws.dir, "--output-base", ws.outputBase, ...args]);
}
