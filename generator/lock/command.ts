// The `nixgen lock` subcommand: flags and help; the work is in ./index.ts.
import path from "node:path";
import { interactive, UsageError, type Command, type Io, type Values } from "../cli-types.js";
import type { BinaryCache } from "../binary-cache/index.js";
import { hasConfig, renderWorkspaceFiles } from "../workspace/generate.js";
import { writeFiles } from "../write/index.js";
import { LOCK_FILE, lock } from "./index.js";

/** Writes the workspace's generated files that are stale, naming each. */
function regenerate(workspace: string, io: Io): void {
  const { written } = writeFiles(workspace, renderWorkspaceFiles(workspace, io.cwd));
  for (const file of written) io.out(`nixgen: wrote ${file}`);
}

/** The caches of --binary-cache and --public-key, paired by position; null when none is given. */
function cacheFlags(values: Values): BinaryCache[] | null {
  const list = (key: string) => (Array.isArray(values[key]) ? (values[key] as string[]) : []);
  const urls = list("binary-cache");
  const keys = list("public-key");
  if (urls.length === 0 && keys.length === 0) return null;
  if (urls.length !== keys.length) {
    throw new UsageError(
      `give one --public-key per --binary-cache (${urls.length} cache(s), ${keys.length} key(s)): ` +
        "the key at the same position checks that cache's narinfos",
    );
  }
  return urls.map((url, i) => ({ url, publicKey: keys[i]! }));
}

export const lockCommand: Command = {
  name: "lock",
  synopsis:
    "nixgen lock [--workspace DIR] [--package NAME]... [--output-base DIR]\n" +
    "[--binary-cache URL --public-key KEY]... [--bazel PATH]",
  summary: `Pin every package's store paths, closure and NAR hashes in ${LOCK_FILE}.`,
  options: {
    workspace: { type: "string" },
    package: { type: "string", multiple: true },
    "output-base": { type: "string" },
    "binary-cache": { type: "string", multiple: true },
    "public-key": { type: "string", multiple: true },
    bazel: { type: "string" },
  },
  help: [
    ["--workspace DIR", "the Bazel workspace (default: the current directory)"],
    [
      "--package NAME",
      "lock only this package (repeatable; other pins are kept); default: every package of " +
        "nixgen.config.ts, or without one every nixpkgs_package of the WORKSPACE (under bzlmod: " +
        "every nixstore.package the root module imports)",
    ],
    ["--output-base DIR", "Bazel's output base (passed as --output_base=DIR)"],
    [
      "--binary-cache URL",
      "record where each store path's NAR is in this binary cache (repeatable, tried in order; each " +
        "with the --public-key at the same position); default: binaryCaches of nixgen.config.ts",
    ],
    ["--public-key KEY", "the public key (<name>:<base64>) the --binary-cache's narinfos must be signed with"],
    ["--bazel PATH", "the bazel executable (default: bazel on PATH)"],
  ],
  async run(values: Values, io: Io): Promise<number> {
    const str = (key: string) => (typeof values[key] === "string" ? values[key] : undefined);
    const workspace = path.resolve(io.cwd, str("workspace") ?? ".");
    const outputBase = str("output-base");
    const packages = Array.isArray(values.package) ? values.package : [];
    const binaryCaches = cacheFlags(values);
    // In a nixgen workspace, Bazel must fetch what the config declares: generate first.
    const nixgenWorkspace = hasConfig(workspace);
    if (nixgenWorkspace) regenerate(workspace, io);
    const result = await lock({
      workspace,
      packages,
      ...(str("bazel") !== undefined ? { bazel: str("bazel") } : {}),
      ...(binaryCaches !== null ? { binaryCaches } : {}),
      startupOptions: outputBase !== undefined ? [`--output_base=${path.resolve(io.cwd, outputBase)}`] : [],
      progress: interactive() ? (line: string) => io.err(line) : null,
    });
    io.out(
      `nixgen: ${result.written ? "wrote" : "unchanged"} ${result.path} ` +
        `(${result.packages.length} package(s) locked)`,
    );
    // In a nixgen workspace, the generated calls must now point at the lock file.
    if (nixgenWorkspace) regenerate(workspace, io);
    return 0;
  },
};
