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
import { REPOSITORIES_MACRO, WORKSPACE_BAZELRC } from "./model.js";
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
          "nixstore/nixstore.MODULE.bazel, which only bzlmod configs generate",
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
  if (bzlmod) {
    if (moduleText !== null && moduleText.includes("//nixstore:nixstore.MODULE.bazel")) {
      notes.push("MODULE.bazel already includes //nixstore:nixstore.MODULE.bazel");
    } else {
      const block = renderPlain(renderer, "MODULE.bazel.hbs", {
        marker: BLOCK_MARKER,
        hasRulesNixstore: /bazel_dep\([^)]*name\s*=\s*["']rules_nixstore["']/s.test(moduleText ?? ""),
        version: packageVersion(),
      });
      files.push({ path: "MODULE.bazel", content: append(moduleText, block) });
      notes.push(
        "MODULE.bazel: added include(\"//nixstore:nixstore.MODULE.bazel\") (needs Bazel 7.2 or later)",
      );
    }
  } else {
    const name = workspaceFile ?? "WORKSPACE";
    const existing = read(at(name));
    if (existing !== null && (existing.includes(`${REPOSITORIES_MACRO}()`) || existing.includes(BLOCK_MARKER))) {
      notes.push(`${name} already calls ${REPOSITORIES_MACRO}()`);
    } else {
      const hasRulesNixstore = DECLARES_RULES_NIXSTORE.test(existing ?? "");
      const block = renderPlain(renderer, "WORKSPACE.hbs", {
        created: existing === null,
        workspaceName: path.basename(root).replace(/[^A-Za-z0-9_]/g, "_").replace(/^([^A-Za-z])/, "ws_$1"),
        hasRulesNixstore,
        marker: BLOCK_MARKER,
      });
      files.push({ path: name, content: append(existing, block) });
      notes.push(`${name}: added the load and call of ${REPOSITORIES_MACRO}()`);
      if (!hasRulesNixstore) {
        notes.push(`${name}: declare the rules_nixstore repository (e.g. http_archive) above that block`);
      }
    }
  }

  // The generated files, from the config as it will be.
  files.push(...renderWorkspaceFiles(root, options.cwd, configText));
  return { files, notes };
}
