/**
 * `nixgen init`: a starter nixgen.config.ts, the .bazelrc imports, the .gitignore line and the
 * WORKSPACE (or MODULE.bazel) block, each only where it is missing, then the generated files.
 * Everything is rendered and the config checked before the first byte is written.
 */
import fs from "node:fs";
import path from "node:path";
import { CONFIG_FILE } from "../config/index.js";
import { HEADER } from "../model/index.js";
import { BAZELRC_FRAGMENT } from "../bazelrc.js";
import { packageVersion, templatesDir } from "../package-root.js";
import { createRenderer, type Renderer } from "../render/index.js";
import type { OutputFile } from "../write/index.js";
import { MODULE_SEGMENT, REPOSITORIES_MACRO, WORKSPACE_BAZELRC } from "./model.js";
import { renderWorkspaceFiles } from "./generate.js";
import { WORKSPACE_REFRESH_COMMAND } from "./render.js";

/** The comment that starts the block init adds to WORKSPACE or MODULE.bazel. */
export const BLOCK_MARKER = "# nixstore: the Nix packages of nixgen.config.ts";

/** The .bazelrc lines init makes sure of, in this order. */
export const BAZELRC_LINES = [
  `import %workspace%/${WORKSPACE_BAZELRC}`,
  `try-import %workspace%/${BAZELRC_FRAGMENT}`,
] as const;

export interface InitOptions {
  /** The workspace directory. */
  readonly root: string;
  /** For messages: paths are shown relative to it. */
  readonly cwd: string;
  /** True: MODULE.bazel; false: WORKSPACE; undefined: MODULE.bazel only if it exists without a WORKSPACE. */
  readonly bzlmod?: boolean;
}

export interface InitPlan {
  /** Every file to write (whole new contents), generated files included. */
  readonly files: OutputFile[];
  /** What init did or left alone, one line each, for the user. */
  readonly notes: string[];
}

function read(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

/** `existing` with `block` appended after a blank line (or `block` alone). */
function append(existing: string | null, block: string): string {
  if (existing === null || existing.trim() === "") return block;
  const body = existing.endsWith("\n") ? existing : `${existing}\n`;
  return `${body}\n${block}`;
}

/** Not generated files: rendered without the "do not edit" header. */
function renderPlain(renderer: Renderer, template: string, context: object): string {
  return renderer.render(`workspace/init/${template}`, context, {
    header: HEADER,
    source: "nixgen init",
    refresh: WORKSPACE_REFRESH_COMMAND,
  });
}

const DECLARES_RULES_NIXSTORE = /\bname\s*=\s*["']rules_nixstore["']/;
const BAZEL_DEP_RULES_NIXSTORE = /\bbazel_dep\s*\([^)]*\bname\s*=\s*["']rules_nixstore["']/s;
/** The label of MODULE_SEGMENT, which MODULE.bazel includes. */
const SEGMENT_LABEL = "//nixstore:nixstore.MODULE.bazel";
const INCLUDES_SEGMENT = /\binclude\s*\(\s*["']\/\/nixstore:nixstore\.MODULE\.bazel["']\s*\)/;

/** What init adds to WORKSPACE or MODULE.bazel: the file's new content (null: nothing), and notes. */
interface Block {
  readonly file: OutputFile | null;
  readonly notes: string[];
}

/** MODULE.bazel: the bazel_dep on rules_nixstore and the include of nixstore.MODULE.bazel, each if missing. */
function moduleBlock(renderer: Renderer, moduleText: string | null): Block {
  const hasRulesNixstore = BAZEL_DEP_RULES_NIXSTORE.test(moduleText ?? "");
  const hasInclude = INCLUDES_SEGMENT.test(moduleText ?? "");
  if (hasRulesNixstore && hasInclude) {
    return { file: null, notes: [`MODULE.bazel already has the bazel_dep on rules_nixstore and includes ${SEGMENT_LABEL}`] };
  }
  const version = packageVersion();
  const block = renderPlain(renderer, "MODULE.bazel.hbs", { marker: BLOCK_MARKER, hasRulesNixstore, hasInclude, version });
  const notes: string[] = [];
  if (!hasRulesNixstore) {
    notes.push(
      `MODULE.bazel: added bazel_dep(name = "rules_nixstore", version = "${version}"); where no registry of ` +
        "yours has that version, add an override below it, e.g. " +
        'local_path_override(module_name = "rules_nixstore", path = "/path/to/rules_nixstore")',
    );
  }
  if (!hasInclude) {
    notes.push(`MODULE.bazel: added include("${SEGMENT_LABEL}") (needs Bazel 7.2 or later)`);
  }
  return { file: { path: "MODULE.bazel", content: append(moduleText, block) }, notes };
}

/** WORKSPACE: the load and call of nixstore_repositories(), if missing. */
function workspaceBlock(renderer: Renderer, root: string, workspaceFile: string | undefined): Block {
  const name = workspaceFile ?? "WORKSPACE";
  const existing = read(path.join(root, name));
  if (existing !== null && (existing.includes(`${REPOSITORIES_MACRO}()`) || existing.includes(BLOCK_MARKER))) {
    return { file: null, notes: [`${name} already calls ${REPOSITORIES_MACRO}()`] };
  }
  const hasRulesNixstore = DECLARES_RULES_NIXSTORE.test(existing ?? "");
  const block = renderPlain(renderer, "WORKSPACE.hbs", {
    created: existing === null,
    workspaceName: path.basename(root).replace(/[^A-Za-z0-9_]/g, "_").replace(/^([^A-Za-z])/, "ws_$1"),
    hasRulesNixstore,
    marker: BLOCK_MARKER,
  });
  const notes = [`${name}: added the load and call of ${REPOSITORIES_MACRO}()`];
  if (!hasRulesNixstore) {
    notes.push(`${name}: declare the rules_nixstore repository (e.g. http_archive) above that block`);
  }
  return { file: { path: name, content: append(existing, block) }, notes };
}

/** Works out what `nixgen init` writes in `options.root`; writes nothing. */
export function planInit(options: InitOptions): InitPlan {
  const { root } = options;
  const renderer = createRenderer(templatesDir());
  const files: OutputFile[] = [];
  const notes: string[] = [];
  const at = (name: string) => path.join(root, name);
  const workspaceFile = ["WORKSPACE.bazel", "WORKSPACE"].find((f) => fs.existsSync(at(f)));
  const moduleText = read(at("MODULE.bazel"));
  const bzlmod = options.bzlmod ?? (moduleText !== null && workspaceFile === undefined);

  // The config: a starter, unless there is one.
  let configText: string | undefined;
  if (fs.existsSync(at(CONFIG_FILE))) {
    notes.push(`${CONFIG_FILE} exists; left as it is`);
    if (bzlmod && !/\bbzlmod\s*:\s*true\b/.test(read(at(CONFIG_FILE)) ?? "")) {
      notes.push(
        `add \`bzlmod: true\` to ${CONFIG_FILE} and run \`npx nixgen\`: MODULE.bazel includes ` +
          `${MODULE_SEGMENT}, which only bzlmod configs generate`,
      );
    }
  } else {
    configText = renderPlain(renderer, "nixgen.config.ts.hbs", { bzlmod });
    files.push({ path: CONFIG_FILE, content: configText });
    notes.push(`${CONFIG_FILE}: a starter config; add a nixpkgs source, then packages`);
  }

  // .bazelrc: the committed flags and this machine's flags.
  const bazelrc = read(at(".bazelrc"));
  const present = new Set((bazelrc ?? "").split("\n").map((l) => l.trim()));
  const missing = BAZELRC_LINES.filter((l) => !present.has(l));
  if (missing.length > 0) {
    files.push({
      path: ".bazelrc",
      content: append(bazelrc, renderPlain(renderer, "bazelrc.hbs", { lines: missing })),
    });
    notes.push(`.bazelrc: added ${missing.join(" and ")}`);
  } else {
    notes.push(".bazelrc already imports the nixstore flags");
  }

  // .gitignore: the machine's flags are not committed.
  const gitignore = read(at(".gitignore"));
  if (!(gitignore ?? "").split("\n").some((l) => l.trim() === BAZELRC_FRAGMENT)) {
    files.push({ path: ".gitignore", content: append(gitignore, `${BAZELRC_FRAGMENT}\n`) });
    notes.push(`.gitignore: added ${BAZELRC_FRAGMENT} (this machine's flags)`);
  }

  // WORKSPACE or MODULE.bazel: the block that declares the repositories.
  const block = bzlmod ? moduleBlock(renderer, moduleText) : workspaceBlock(renderer, root, workspaceFile);
  if (block.file !== null) files.push(block.file);
  notes.push(...block.notes);

  // The generated files, from the config as it will be.
  files.push(...renderWorkspaceFiles(root, options.cwd, configText));
  return { files, notes };
}
