// The `nixgen init` and `nixgen add` subcommands: flags and help; the work is in ./init.ts and
// ./add.ts. main.ts puts them into its command table.
import fs from "node:fs";
import path from "node:path";
import { CONFIG_FILE, displayPath } from "../config/index.js";
import type { Command, Io, Values } from "../cli-types.js";
import { writeFiles, type OutputFile } from "../write/index.js";
import { AddError, addPackageToConfig, defaultPackageName } from "./add.js";
import { findWorkspace, hasConfig, renderWorkspaceFiles } from "./generate.js";
import { planInit } from "./init.js";

/** Keeps the permission bits of files that exist (the writer's default is 0644). */
function keepModes(root: string, files: readonly OutputFile[]): OutputFile[] {
  return files.map((file) => {
    try {
      return { ...file, mode: fs.statSync(path.join(root, file.path)).mode & 0o777 };
    } catch {
      return file;
    }
  });
}

function report(io: Io, root: string, written: readonly string[], unchanged: readonly string[]): void {
  for (const file of written) io.out(`nixgen: wrote ${file}`);
  io.out(`nixgen: ${written.length} written, ${unchanged.length} unchanged in ${root}`);
}

export const initCommand: Command = {
  name: "init",
  synopsis: "nixgen init [--workspace DIR] [--bzlmod]",
  summary: `Add ${CONFIG_FILE}, the .bazelrc imports and the WORKSPACE block (or MODULE.bazel lines) where missing.`,
  options: {
    workspace: { type: "string" },
    bzlmod: { type: "boolean" },
  },
  help: [
    ["--workspace DIR", "the Bazel workspace (default: the current directory)"],
    [
      "--bzlmod",
      "add the MODULE.bazel lines instead of the WORKSPACE block (the default when there is " +
        "a MODULE.bazel and no WORKSPACE)",
    ],
  ],
  async run(values: Values, io: Io): Promise<number> {
    const dir = typeof values.workspace === "string" ? values.workspace : ".";
    const root = path.resolve(io.cwd, dir);
    if (!fs.statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
      throw new Error(`${root} is not a directory`);
    }
    const plan = planInit({
      root,
      cwd: io.cwd,
      ...(values.bzlmod === true ? { bzlmod: true } : {}),
    });
    const { written, unchanged } = writeFiles(root, keepModes(root, plan.files));
    for (const note of plan.notes) io.out(`nixgen: ${note}`);
    report(io, root, written, unchanged);
    return 0;
  },
};

export const addCommand: Command = {
  name: "add",
  synopsis: "nixgen add ATTRIBUTE [--name NAME] [--workspace DIR]",
  summary: `Add a package to ${CONFIG_FILE} (keeping its comments and layout), then generate.`,
  positionals: ["ATTRIBUTE"],
  options: {
    name: { type: "string" },
    workspace: { type: "string" },
  },
  help: [
    ["ATTRIBUTE", "the Nix attribute path to build, e.g. jq or python3Packages.numpy"],
    ["--name NAME", "the repository name @NAME (default: the attribute path's last part)"],
    [
      "--workspace DIR",
      `the workspace (default: the nearest directory upwards with a ${CONFIG_FILE})`,
    ],
  ],
  async run(values: Values, io: Io, positionals: readonly string[]): Promise<number> {
    const attribute = positionals[0] as string;
    const root =
      typeof values.workspace === "string"
        ? path.resolve(io.cwd, values.workspace)
        : findWorkspace(io.cwd);
    if (root === null || !hasConfig(root)) {
      throw new AddError(
        `no ${CONFIG_FILE} in ${root ?? `${io.cwd} or above`}; run \`nixgen init\` first`,
      );
    }
    const configPath = path.join(root, CONFIG_FILE);
    const shown = displayPath(configPath, io.cwd);
    const name = typeof values.name === "string" ? values.name : defaultPackageName(attribute);
    const text = addPackageToConfig(shown, fs.readFileSync(configPath, "utf8"), attribute, name);
    // Check the edited config and render from it before anything is written.
    const generated = renderWorkspaceFiles(root, io.cwd, text);
    const files = keepModes(root, [{ path: CONFIG_FILE, content: text }, ...generated]);
    const { written, unchanged } = writeFiles(root, files);
    io.out(
      `nixgen: added package "${name}"` +
        (name === attribute ? "" : ` (attribute ${attribute})`) +
        ` to ${shown}`,
    );
    report(io, root, written, unchanged);
    return 0;
  },
};
