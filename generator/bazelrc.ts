import fs from "node:fs";
import path from "node:path";
import { bazelOutputBase, runBazel, type BazelOptions } from "./bazel/driver.js";
import { HEADER, LOGICAL_STORE_DIR, STORE_DIRNAME } from "./model/index.js";
import { createRenderer } from "./render/index.js";
import { packageRoot, templatesDir } from "./package-root.js";
import { writeFiles } from "./write/index.js";
import { CONFIG_FILE, loadConfig } from "./config/index.js";
import { REMOTE_CONFIG } from "./workspace/model.js";

/** File name of the machine fragment, next to the workspace's .bazelrc. */
export const BAZELRC_FRAGMENT = ".nixstore.bazelrc";

/** The `--config` under which the linux-sandbox shows no store path but the declared closures. */
export const STRICT_CONFIG = "nixstore-strict";

/** Under the store root: the empty directory that --config=nixstore-strict mounts on /nix/store. */
export const STRICT_EMPTY_DIR = "strict-empty";

/** Debian's copy of rules_java, which its bazel-bootstrap can use offline. */
export const DEBIAN_RULES_JAVA = "/usr/share/bazel/rules/java";

export interface BazelrcOptions {
  /** Workspace directory; the fragment is written there. */
  readonly workspace: string;
  /** Bazel's output base; when given, `bazel info output_base` is not run. */
  readonly outputBase?: string;
  /** Where the linux-sandbox maps the store; default /nix/store. */
  readonly mountTarget?: string;
  /** Bazel's version (e.g. "4.2.3"); when given, `bazel --version` is not run. */
  readonly bazelVersion?: string;
  /** The bazel executable; default "bazel" on PATH. */
  readonly bazel?: string;
  /** Debian's rules_java directory (tests point it elsewhere). */
  readonly debianRulesJava?: string;
  /** The rules_nixstore root holding third_party/offline (default: this package's root). */
  readonly rulesRoot?: string;
  /** Receives warnings and advice (default: stderr). */
  readonly warn?: (message: string) => void;
}

export interface BazelrcResult {
  /** Absolute path of the fragment. */
  readonly path: string;
  /** False when the file already had these bytes. */
  readonly written: boolean;
  readonly content: string;
  /** Whether the fragment carries --sandbox_add_mount_pair. */
  readonly mountPair: boolean;
}

/**
 * The mount pair of --config=nixstore-strict: an empty directory over the mount target, mounted
 * after the store's own pair, so the linux-sandbox shows an empty /nix/store and an action
 * sees only the closures its launchers map (its declared inputs). Null where the target does
 * not exist (nothing to hide) or the packages live in the system store (their launchers need
 * it).
 */
function strictPair(outputBase: string, mountTarget: string, system: boolean): string | null {
  if (system || !isDirectory(mountTarget)) return null;
  const empty = path.join(outputBase, STORE_DIRNAME, STRICT_EMPTY_DIR);
  checkFlagPath("output base", empty);
  fs.mkdirSync(empty, { recursive: true });
  if (fs.readdirSync(empty).length > 0) {
    throw new Error(`${empty} must stay empty (--config=${STRICT_CONFIG} shows it as /nix/store); remove what is in it`);
  }
  return `${empty}:${mountTarget}`;
}

interface Override {
  readonly name: string;
  readonly path: string;
}

/**
 * Reads Bazel's major version from `bazel --version` output ("bazel 7.1.0", or "bazel
 * no_version" from Debian's bazel-bootstrap, which is 4.2.3 on bookworm). Null if unknown.
 */
export function bazelMajor(versionOutput: string): number | null {
  const text = versionOutput.trim().replace(/^bazel\s+/, "");
  if (text === "no_version") return 4;
  const match = /^(\d+)\./.exec(text);
  return match ? Number(match[1]) : null;
}

function checkFlagPath(what: string, value: string): void {
  if (/[\s:]/.test(value)) {
    throw new Error(
      `${what} ${JSON.stringify(value)} contains a space or a colon, which ` +
        "--sandbox_add_mount_pair cannot express; use a path without them",
    );
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The flags this machine needs, rendered to the fragment's final text. */
/** Whether the workspace's nixgen.config.ts (if any) builds into the host's /nix/store. */
function systemStore(workspace: string): boolean {
  if (!fs.existsSync(path.join(workspace, CONFIG_FILE))) return false;
  return loadConfig(workspace, workspace).store === "system";
}

export async function renderBazelrc(options: BazelrcOptions): Promise<{
  content: string;
  mountPair: boolean;
}> {
  const warn = options.warn ?? ((m: string) => process.stderr.write(`${m}\n`));
  const workspace = path.resolve(options.workspace);
  const bazel: BazelOptions = { workspace, bazel: options.bazel };
  const outputBase = path.resolve(options.outputBase ?? (await bazelOutputBase(bazel)));
  const versionOutput = options.bazelVersion ?? (await runBazel(bazel, ["--version"], false)).stdout.trim();
  const major = bazelMajor(versionOutput);
  const bazelVersion = versionOutput.trim().replace(/^bazel\s+/, "");

  const mountTarget = path.resolve(options.mountTarget ?? LOGICAL_STORE_DIR);
  const storeFiles = path.join(outputBase, STORE_DIRNAME, "nix", "store");
  let mountPair: string | null = null;
  const system = systemStore(workspace);
  if (system) {
    // The pair would show the chroot store at /nix/store in the sandbox and hide the host's,
    // where these packages live; the sandbox shows the host's /nix/store as it is.
    warn(
      `nixgen: ${CONFIG_FILE} builds into the system store (store: "system"): ` +
        `${BAZELRC_FRAGMENT} is written without --sandbox_add_mount_pair.`,
    );
  } else if (isDirectory(mountTarget)) {
    checkFlagPath("output base", storeFiles);
    checkFlagPath("mount target", mountTarget);
    // The linux-sandbox refuses a mount pair whose source is missing, for every action, so
    // the (possibly still empty) chroot store directory must exist.
    fs.mkdirSync(storeFiles, { recursive: true });
    mountPair = `${storeFiles}:${mountTarget}`;
  } else {
    warn(
      [
        `nixgen: ${mountTarget} does not exist on this machine, so Bazel's linux-sandbox cannot ` +
          `map the chroot Nix store there (it only mounts onto existing paths).`,
        `  ${BAZELRC_FRAGMENT} is written without --sandbox_add_mount_pair.`,
        `  To enable the mount pair, run once:  sudo mkdir -p ${mountTarget}`,
        `  (an empty directory; nothing is ever written into it), then \`nixgen bazelrc\` again.`,
        `  Without it, Nix executables still work: their launcher maps the store with a user ` +
          `namespace.`,
      ].join("\n"),
    );
  }

  const overrides: Override[] = [];
  if (major === 4) {
    const root = options.rulesRoot ?? packageRoot();
    const offline = path.join(root, "third_party", "offline");
    const javaDir = options.debianRulesJava ?? DEBIAN_RULES_JAVA;
    overrides.push({ name: "rules_cc", path: path.join(offline, "rules_cc") });
    if (isDirectory(javaDir)) overrides.push({ name: "rules_java", path: javaDir });
    overrides.push({
      name: "remote_coverage_tools",
      path: path.join(offline, "remote_coverage_tools"),
    });
    for (const o of overrides) {
      if (!isDirectory(o.path)) {
        warn(`nixgen: warning: --override_repository=${o.name} points to missing ${o.path}`);
      }
    }
  } else if (major === null) {
    warn(
      `nixgen: warning: cannot tell Bazel's version from ${JSON.stringify(versionOutput)}; ` +
        "no offline overrides added",
    );
  }

  const strict = { config: STRICT_CONFIG, pair: strictPair(outputBase, mountTarget, system) };
  // Bazel 7 can keep the Merkle tree of a nested set of inputs (a tool's closure) across
  // actions instead of hashing thousands of files into a tree for every remote action
  // (bench/README.md: 5,120-file closure). Bazel 4.2.3 does not know the flag.
  const merkleTreeCache = major !== null && major >= 7 ? REMOTE_CONFIG : null;
  const renderer = createRenderer(templatesDir());
  const content = renderer.render(
    "bazelrc/nixstore.bazelrc.hbs",
    { outputBase, mountTarget, mountPair, systemStore: system, overrides, bazelVersion, strict, merkleTreeCache },
    {
      header: HEADER,
      source: "templates/bazelrc/nixstore.bazelrc.hbs",
      refresh: "nixgen bazelrc",
    },
  );
  return { content, mountPair: mountPair !== null };
}

/** Writes `<workspace>/.nixstore.bazelrc` for this machine (untouched when unchanged). */
export async function writeBazelrc(options: BazelrcOptions): Promise<BazelrcResult> {
  const { content, mountPair } = await renderBazelrc(options);
  const workspace = path.resolve(options.workspace);
  const { written } = writeFiles(workspace, [{ path: BAZELRC_FRAGMENT, content }]);
  return {
    path: path.join(workspace, BAZELRC_FRAGMENT),
    written: written.length > 0,
    content,
    mountPair,
  };
}
