// The `nixgen gc` subcommand: flags and help; the work is in ./index.ts.
import path from "node:path";
import type { Io } from "../main.js";
import { gc } from "./index.js";

type Values = Record<string, string | boolean | string[] | undefined>;

export const gcCommand = {
  name: "gc",
  synopsis: "nixgen gc [--workspace DIR] [--output-base DIR] [--dry-run] [--bazel PATH]",
  summary: "Delete the store paths of the output base that no package repository uses any more.",
  options: {
    workspace: { type: "string" },
    "output-base": { type: "string" },
    "dry-run": { type: "boolean" },
    bazel: { type: "string" },
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
  ],
  async run(values: Values, io: Io): Promise<number> {
    const str = (key: string) => (typeof values[key] === "string" ? values[key] : undefined);
    const outputBase = str("output-base");
    const result = await gc({
      workspace: path.resolve(io.cwd, str("workspace") ?? "."),
      ...(outputBase !== undefined
        ? { outputBase: path.resolve(io.cwd, outputBase), startupOptions: [`--output_base=${path.resolve(io.cwd, outputBase)}`] }
        : {}),
      ...(str("bazel") !== undefined ? { bazel: str("bazel") } : {}),
      dryRun: values["dry-run"] === true,
    });
    const verb = values["dry-run"] === true ? "would remove" : "removed";
    for (const name of result.staleRepositories) {
      io.out(`nixgen: ${verb} the repository of "${name}" (no longer declared by the workspace)`);
    }
    for (const p of result.deleted) io.out(`nixgen: ${verb} ${p}`);
    io.out(
      `nixgen: ${result.summary || `${result.deleted.length} store path(s) ${values["dry-run"] === true ? "unused" : "deleted"}`}` +
        ` in ${result.store}`,
    );
    return 0;
  },
} as const;
