/** Finding what to generate (a workspace, or the rules_nixstore repository), and doing it. */
import fs from "node:fs";
import path from "node:path";
import { CONFIG_FILE, displayPath, loadConfig, parseConfig, remotableRemote } from "../config/index.js";
import { findUpwards, isRulesRoot, renderLibraryFiles } from "../generate.js";
import { templatesDir } from "../package-root.js";
import { createRenderer } from "../render/index.js";
import { HEADER } from "../model/index.js";
import { generatedFilesPresent, type OutputFile } from "../write/index.js";
import { LOCK_FILE } from "./model.js";
import {
  RETIRED_WORKSPACE_OUTPUTS,
  WORKSPACE_OUTPUTS,
  describeDiscovered,
  renderWorkspace,
  workspaceFacts,
} from "./render.js";

/** What `nixgen generate` works on. */
export type Target =
  | { readonly kind: "workspace"; readonly root: string }
  | { readonly kind: "library"; readonly root: string };

export function hasConfig(dir: string): boolean {
  return fs.existsSync(path.join(dir, CONFIG_FILE));
}

/**
 * The nearest directory from `start` upwards that has a nixgen.config.ts (a workspace) or is
 * the rules_nixstore root (the library), whichever comes first; null if neither.
 */
export function locateTarget(start: string): Target | null {
  return findUpwards<Target>(start, (dir) =>
    hasConfig(dir) ? { kind: "workspace", root: dir } : isRulesRoot(dir) ? { kind: "library", root: dir } : null,
  );
}

/** The nearest directory from `start` upwards with a nixgen.config.ts, or null. */
export function findWorkspace(start: string): string | null {
  return findUpwards(start, (dir) => (hasConfig(dir) ? dir : null));
}

/**
 * Renders a workspace's generated files, paths relative to `root`. `configText` replaces the
 * file on disk (for `add` and `init`, which check a config before writing it). Throws a
 * ConfigError listing every problem of the config.
 */
export function renderWorkspaceFiles(
  root: string,
  cwd: string,
  configText?: string,
  report?: (line: string) => void,
): OutputFile[] {
  const config =
    configText === undefined
      ? loadConfig(root, cwd)
      : parseConfig(displayPath(path.join(root, CONFIG_FILE), cwd), configText);
  const facts = workspaceFacts(root, config);
  if (report !== undefined) describeDiscovered(facts).forEach(report);
  const remotable = remotableRemote(config.remote);
  if (report !== undefined && facts.lockFile && remotable !== null) {
    report(
      `note: ${LOCK_FILE} is not used: remote strategy "${remotable.strategy}" builds every package on the executor, ` +
        "unpinned (delete the file, or keep it for a return to strategy \"launcher\")",
    );
  }
  return renderWorkspace(createRenderer(templatesDir()), config, facts);
}

/** The example workspaces of the rules_nixstore repository: examples/<name> with a config. */
export function exampleWorkspaces(rulesRoot: string): string[] {
  const dir = path.join(rulesRoot, "examples");
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && hasConfig(path.join(dir, e.name)))
    .map((e) => `examples/${e.name}`)
    .sort();
}

/**
 * Everything generated in the rules_nixstore repository: the library's files and those of
 * every example workspace, paths relative to `rulesRoot`.
 */
export function renderRepositoryFiles(rulesRoot: string, cwd: string): OutputFile[] {
  const files = [...renderLibraryFiles()];
  for (const example of exampleWorkspaces(rulesRoot)) {
    const root = path.join(rulesRoot, example);
    for (const file of renderWorkspaceFiles(root, cwd)) {
      files.push({ ...file, path: `${example}/${file.path}` });
    }
  }
  return files;
}

/**
 * Files nixgen generated earlier in the workspaces `dirs` (relative to `root`; "" is `root`
 * itself) that `files` (what is generated now, paths relative to `root`) no longer includes,
 * e.g. nixstore/nixstore.MODULE.bazel after `bzlmod: true` was removed, or a file this nixgen
 * generates no more (RETIRED_WORKSPACE_OUTPUTS). Only files carrying nixgen's header count.
 */
function obsoleteFiles(root: string, dirs: readonly string[], files: readonly OutputFile[]): string[] {
  const now = new Set(files.map((f) => f.path));
  const paths = [...WORKSPACE_OUTPUTS.map((o) => o.path), ...RETIRED_WORKSPACE_OUTPUTS];
  const candidates = dirs.flatMap((dir) => paths.map((p) => (dir ? `${dir}/${p}` : p)));
  return generatedFilesPresent(root, candidates.filter((p) => !now.has(p)), HEADER);
}

/** Files a workspace's config no longer generates (see obsoleteFiles), paths relative to `root`. */
export function obsoleteWorkspaceFiles(root: string, files: readonly OutputFile[]): string[] {
  return obsoleteFiles(root, [""], files);
}

/** The same for every example of the rules_nixstore repository, paths relative to it. */
export function obsoleteRepositoryFiles(rulesRoot: string, files: readonly OutputFile[]): string[] {
  return obsoleteFiles(rulesRoot, exampleWorkspaces(rulesRoot), files);
}
