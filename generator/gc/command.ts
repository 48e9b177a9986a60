// The `nixgen gc` subcommand: flags and help; the work is in ./index.ts.
import path from "node:path";
import type { Command, Io, Values } from "../cli-types.js";
import { LockError } from "../lock/index.js";
import { gc, gcMachineCache, machineCacheDir, type GcResult } from "./index.js";

/** Prints what a collection removed (or, with dryRun, would remove). */
function report(result: GcResult, dryRun: boolean, io: Io): void {
  const verb = dryRun ? "would remove" : "removed";
  for (const name of result.staleRepositories) {
    io.out(`nixgen: ${verb} the repository of "${name}" (no longer declared by the workspace)`);
  }
  for (const p of result.deleted) io.out(`nixgen: ${verb} ${p}`);
  io.out(`nixgen: ${result.summary || `${result.deleted.length} store path(s) ${dryRun ? "unused" : "deleted"}`} in ${result.store}`);
}

export const gcCommand: Command = {
  name: "gc",
  synopsis: "nixgen gc [--workspace DIR] [--output-base DIR] [--machine-cache] [--dry-run] [--bazel PATH]",
  summary: "Delete the store paths of the output base that no package repository uses any more.",
  options: {
    workspace: { type: "string" },
    "output-base": { type: "string" },
    "dry-run": { type: "boolean" },
    bazel: { type: "string" },
    "machine-cache": { type: "boolean" },
  },
  help: [
    ["--workspace DIR", "the Bazel workspace (default: the current directory)"],
    ["--output-base DIR", "Bazel's output base (default: ask `bazel info output_base`)"],
    [
      "--dry-run",
      "delete nothing: list the repositories of packages no longer declared, and the store paths " +
        "nothing uses now (the closures of those repositories go too, where nothing else uses them)",
    ],
    ["--bazel PATH", "the bazel executable (default: bazel on PATH)"],
    [
      "--machine-cache",
      "prune the machine cache shared by all output bases ($RULES_NIXSTORE_MACHINE_CACHE, else " +
        "${XDG_CACHE_HOME:-$HOME/.cache}/rules_nixstore/store) instead: delete the store paths " +
        "that no package repository of any existing output base uses",
    ],
  ],
  async run(values: Values, io: Io): Promise<number> {
    const str = (key: string) => (typeof values[key] === "string" ? values[key] : undefined);
    const outputBase = str("output-base");
    if (values["machine-cache"] === true) {
      const dir = machineCacheDir();
      if (dir === null) throw new LockError("the machine cache is off (RULES_NIXSTORE_MACHINE_CACHE=off): nothing to prune");
      report(await gcMachineCache({ dir, dryRun: values["dry-run"] === true }), values["dry-run"] === true, io);
      return 0;
    }
    const result = await gc({
      workspace: path.resolve(io.cwd, str("workspace") ?? "."),
      ...(outputBase !== undefined
        ? { outputBase: path.resolve(io.cwd, outputBase), startupOptions: [`--output_base=${path.resolve(io.cwd, outputBase)}`] }
        : {}),
      ...(str("bazel") !== undefined ? { bazel: str("bazel") } : {}),
      dryRun: values["dry-run"] === true,
    });
    report(result, values["dry-run"] === true, io);
    return 0;
  },
};
