/** Renders a workspace's generated files (under nixstore/) from its config. */
import fs from "node:fs";
import path from "node:path";
import { CONFIG_FILE, type ResolvedConfig } from "../config/index.js";
import { HEADER } from "../model/index.js";
import type { Renderer } from "../render/index.js";
import type { OutputFile } from "../write/index.js";
import { discoverNixFileDeps, type DiscoveredDeps } from "./nixdeps.js";
import {
  LOCK_FILE,
  MODULE_SEGMENT,
  REPOSITORIES_BZL,
  WORKSPACE_BAZELRC,
  workspaceModel,
  type WorkspaceFacts,
} from "./model.js";

/** The command that refreshes a workspace's generated files. */
export const WORKSPACE_REFRESH_COMMAND = "npx nixgen";

interface WorkspaceOutput {
  readonly path: string;
  /** Relative to templates/. */
  readonly template: string;
  /** Only with `bzlmod: true`. */
  readonly bzlmodOnly: boolean;
}

/** Every file nixgen may generate in a workspace. */
export const WORKSPACE_OUTPUTS: readonly WorkspaceOutput[] = [
  { path: "nixstore/BUILD.bazel", template: "workspace/BUILD.bazel.hbs", bzlmodOnly: false },
  { path: REPOSITORIES_BZL, template: "workspace/repositories.bzl.hbs", bzlmodOnly: false },
  { path: WORKSPACE_BAZELRC, template: "workspace/nixstore.bazelrc.hbs", bzlmodOnly: false },
  { path: MODULE_SEGMENT, template: "workspace/nixstore.MODULE.bazel.hbs", bzlmodOnly: true },
];

/**
 * Files earlier nixgen versions generated in a workspace and this one no longer does: the
 * refresh deletes them (when they carry nixgen's header). `extensions.bzl` was a local module
 * extension; nixstore.MODULE.bazel now uses the one rules_nixstore ships.
 */
export const RETIRED_WORKSPACE_OUTPUTS: readonly string[] = ["nixstore/extensions.bzl"];

/** The workspace `.nix` files of a config: the `nixFile`s of nixpkgs sources, packages and the toolchain. */
function nixFiles(config: ResolvedConfig): string[] {
  const labels = [
    ...config.sources.map((s) => (s.kind === "local" ? s.nixFile : null)),
    ...config.packages.map((p) => p.nixFile),
    config.ccToolchain?.nixFile ?? null,
  ];
  return [...new Set(labels.filter((l): l is string => l !== null))];
}

/** Reads what the model needs from the workspace besides the config. */
export function workspaceFacts(root: string, config: ResolvedConfig): WorkspaceFacts {
  const discovered: Record<string, DiscoveredDeps> = {};
  for (const label of nixFiles(config)) discovered[label] = discoverNixFileDeps(root, label);
  return { lockFile: fs.existsSync(path.join(root, LOCK_FILE)), discovered };
}

/** What the nix_file_deps search found, as lines for the user. */
export function describeDiscovered(facts: WorkspaceFacts): string[] {
  const lines: string[] = [];
  for (const found of Object.values(facts.discovered)) {
    const n = found.deps.length;
    lines.push(
      `nix_file_deps of ${found.label}: found ${n} file${n === 1 ? "" : "s"}` +
        (n > 0 ? `: ${found.deps.join(", ")}` : ""),
    );
    for (const note of found.notes) lines.push(`  note: ${note}`);
  }
  return lines;
}

/** Renders the files of a checked config to their final bytes. */
export function renderWorkspace(
  renderer: Renderer,
  config: ResolvedConfig,
  facts: WorkspaceFacts,
): OutputFile[] {
  const model = workspaceModel(config, facts);
  return WORKSPACE_OUTPUTS.filter((o) => model.bzlmod || !o.bzlmodOnly).map((output) => ({
    path: output.path,
    content: renderer.render(output.template, model, {
      header: HEADER,
      source: CONFIG_FILE,
      refresh: WORKSPACE_REFRESH_COMMAND,
    }),
  }));
}
