/**
 * `nixgen gc`: frees the disk that the output base's chroot store (`<output_base>/nixstore`)
 * spends on store paths no package repository of the workspace uses any more.
 *
 * Each package repository registers its outputs as a garbage-collector root of the store (its
 * `_nixstore/result` links), so `nix-store --gc` keeps every closure a repository in the output
 * base lays out and deletes the rest: outputs of earlier versions of a package (a changed
 * derivation) and everything only they used. Repositories of packages the workspace no longer
 * declares stay in the output base (Bazel does not delete them) and would keep their closures
 * alive: nixgen removes those repositories first (their directory and Bazel's marker file, so a
 * package declared again is fetched afresh), then collects. The packages in use are Bazel's
 * own view: the nixpkgs_package rules of the WORKSPACE, or under bzlmod every
 * `nixstore.package` tag of every module; C/C++ toolchains (nixpkgs_cc_configure, the
 * `cc_configure` tag) count as packages.
 */
import fs from "node:fs";
import path from "node:path";
import {
  CC_TOOLCHAIN_RULE_CLASS,
  CC_TOOLCHAIN_TAG,
  EXTENSION,
  PACKAGE_RULE_CLASS,
  PACKAGE_TAG,
  bazelOutputBase,
  discoverPackages,
  packageTags,
  runBazel,
  type BazelOptions,
} from "../bazel/driver.js";
import {
  MACHINE_CACHE_BASES,
  MACHINE_CACHE_ENV,
  MACHINE_CACHE_OFF,
  MACHINE_CACHE_SUBDIR,
  STORE_DIRNAME,
  STORE_PATH_SOURCE,
} from "../model/index.js";
import { workspaceMarker } from "../generate.js";
import { LockError, RECORD_PATH } from "../lock/index.js";
import { runChecked } from "../run-command.js";

export interface GcOptions extends BazelOptions {
  /** Bazel's output base; default: `bazel info output_base`. */
  readonly outputBase?: string;
  /** Report what would go, delete nothing. */
  readonly dryRun?: boolean;
}

export interface GcResult {
  /** The store's root. */
  readonly store: string;
  /** Repositories removed (or, with dryRun, to remove): their apparent names. */
  readonly staleRepositories: readonly string[];
  /** Store paths deleted (or, with dryRun, that would be). */
  readonly deleted: readonly string[];
  /** Nix's own summary ("N store paths deleted, X MiB freed"), or "" with dryRun. */
  readonly summary: string;
}

/**
 * The packages and C/C++ toolchains Bazel declares for the workspace now (all modules', under
 * bzlmod): a toolchain's repository lays out the compiler's closure and records it as a package
 * does, so it is in use as long as it is declared.
 */
async function packagesInUse(options: GcOptions): Promise<string[]> {
  const marker = workspaceMarker(options.workspace);
  if (marker === null) {
    throw new LockError(`${options.workspace} is not a Bazel workspace (no WORKSPACE or MODULE.bazel); pass --workspace DIR`);
  }
  if (marker !== "MODULE.bazel") return discoverPackages(options, [PACKAGE_RULE_CLASS, CC_TOOLCHAIN_RULE_CLASS]);
  const { stdout } = await runBazel(options, ["mod", "show_extension", EXTENSION], false);
  return packageTags(stdout, [PACKAGE_TAG, CC_TOOLCHAIN_TAG]);
}

/** The package repositories in the output base: directory name → the apparent name they record. */
export function packageRepositories(outputBase: string): Map<string, string> {
  const found = new Map<string, string>();
  const external = path.join(outputBase, "external");
  if (!fs.existsSync(external)) return found;
  for (const dir of fs.readdirSync(external)) {
    try {
      const record = JSON.parse(fs.readFileSync(path.join(external, dir, RECORD_PATH), "utf8")) as { name?: unknown };
      if (typeof record.name === "string") found.set(dir, record.name);
    } catch {
      // not a package repository of rules_nixstore
    }
  }
  return found;
}

/** Deletes a repository of the output base and Bazel's marker of it (read-only files included). */
function removeRepository(outputBase: string, dir: string): void {
  const repo = path.join(outputBase, "external", dir);
  const makeWritable = (p: string): void => {
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) return;
    fs.chmodSync(p, st.mode | 0o200);
    if (st.isDirectory()) for (const child of fs.readdirSync(p)) makeWritable(path.join(p, child));
  };
  makeWritable(repo);
  fs.rmSync(repo, { recursive: true, force: true });
  fs.rmSync(path.join(outputBase, "external", `@${dir}.marker`), { force: true });
}

/**
 * Runs nix-store against the store; on failure throws with the command, exit code and stderr.
 * With `lock`, under an exclusive flock of that file (the machine cache's lock, see
 * rules/private/machine_cache_import.sh).
 */
async function nixStore(store: string, args: string[], lock?: string): Promise<{ stdout: string; stderr: string }> {
  const nix = ["nix-store", "--store", store, "--option", "build-users-group", "", ...args];
  const argv = lock === undefined ? nix : ["flock", lock, ...nix];
  const { stdout, stderr } = await runChecked(argv);
  return { stdout, stderr };
}

/** Store paths a `nix-store --gc` (or `--print-dead`) run names. */
function storePaths(text: string): string[] {
  return [...text.matchAll(new RegExp(STORE_PATH_SOURCE, "g"))].map((m) => m[0]).sort();
}

/** The closures the package repositories of the output base hold, by their records. */
function liveClosures(outputBase: string, dirs: Iterable<string>): Set<string> {
  const live = new Set<string>();
  for (const dir of dirs) {
    try {
      const record = JSON.parse(fs.readFileSync(path.join(outputBase, "external", dir, RECORD_PATH), "utf8")) as { closure?: Record<string, string> };
      for (const p of Object.keys(record.closure ?? {})) live.add(p);
    } catch {
      // not a package repository of rules_nixstore
    }
  }
  return live;
}

/** Deletes store paths that are not registered: files a fetch's fast path brought in (hard links). */
function deleteUnregistered(files: string, entries: readonly string[]): void {
  const makeWritable = (p: string): void => {
    const st = fs.lstatSync(p);
    if (!st.isDirectory()) return;
    // Only directories: the files are hard links of the machine cache's, whose modes must not change.
    fs.chmodSync(p, st.mode | 0o700);
    for (const child of fs.readdirSync(p)) makeWritable(path.join(p, child));
  };
  for (const entry of entries) {
    const p = path.join(files, entry);
    makeWritable(p);
    fs.rmSync(p, { recursive: true, force: true });
  }
}

/**
 * Removes the stale package repositories, then every store path of the output base that no
 * remaining repository holds (its record's closure): registered paths through Nix
 * (`nix-store --delete`), paths a fetch's fast path brought in from the machine cache without
 * registering them (rules/private/fetch.bzl) by deleting their files.
 */
export async function gc(options: GcOptions): Promise<GcResult> {
  const workspace = path.resolve(options.workspace);
  const opts = { ...options, workspace };
  const outputBase = path.resolve(options.outputBase ?? (await bazelOutputBase(opts)));
  const store = path.join(outputBase, STORE_DIRNAME);
  const files = path.join(store, "nix/store");
  const inUse = new Set(await packagesInUse(opts));
  const repos = packageRepositories(outputBase);
  const stale = [...repos].filter(([, name]) => !inUse.has(name));
  const staleNames = stale.map(([, n]) => n);
  if (!fs.existsSync(files)) return { store, staleRepositories: staleNames, deleted: [], summary: "" };
  const live = liveClosures(outputBase, [...repos].filter(([, name]) => inUse.has(name)).map(([dir]) => dir));
  const dead = fs
    .readdirSync(files)
    .filter((e) => /^[0-9a-z]{32}-/.test(e))
    .map((e) => `/nix/store/${e}`)
    .filter((p) => !live.has(p))
    .sort();
  if (options.dryRun) return { store, staleRepositories: staleNames, deleted: dead, summary: "" };
  for (const [dir] of stale) removeRepository(outputBase, dir);
  let registered: string[] = [];
  if (fs.existsSync(path.join(store, "nix/var/nix/db")) && dead.length > 0) {
    const invalid = storePaths((await nixStore(store, ["--check-validity", "--print-invalid", ...dead])).stdout);
    registered = dead.filter((p) => !invalid.includes(p));
  }
  let summary = "";
  if (registered.length > 0) {
    const { stdout, stderr } = await nixStore(store, ["--delete", "--ignore-liveness", ...registered]);
    summary = `${stdout}\n${stderr}`.split("\n").find((l) => /store paths deleted/.test(l))?.trim() ?? "";
  }
  deleteUnregistered(files, dead.filter((p) => !registered.includes(p)).map((p) => p.slice("/nix/store/".length)));
  return { store, staleRepositories: staleNames, deleted: dead, summary: summary || `${dead.length} store paths deleted` };
}

/**
 * The machine cache's directory by the rules' own rule (rules/private/machine_cache.bzl, from the
 * same constants): $RULES_NIXSTORE_MACHINE_CACHE, else under the first of MACHINE_CACHE_BASES
 * that holds an absolute path (`${XDG_CACHE_HOME:-$HOME/.cache}/rules_nixstore/store`); null when
 * it is "off".
 */
export function machineCacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const set = env[MACHINE_CACHE_ENV];
  if (set === MACHINE_CACHE_OFF) return null;
  if (set) {
    if (!path.isAbsolute(set)) throw new LockError(`${MACHINE_CACHE_ENV}=${set} is not an absolute path`);
    return set.replace(/\/+$/, "");
  }
  for (const [variable, subdirectory] of MACHINE_CACHE_BASES) {
    const base = env[variable];
    if (base && path.isAbsolute(base)) return path.join(base, subdirectory, MACHINE_CACHE_SUBDIR);
  }
  const names = [MACHINE_CACHE_ENV, ...MACHINE_CACHE_BASES.map(([variable]) => variable)];
  throw new LockError(`neither ${names.slice(0, -1).join(", ")} nor ${names.at(-1)} is set (as an absolute path): cannot find the machine cache`);
}

/**
 * Prunes the machine cache: deletes its store paths that no package repository of any output
 * base uses any more. Each repository's `_nixstore/result` link is a root of the cache (and of
 * its output base's store), so what an existing output base holds stays; what only expunged or
 * deleted output bases (or removed packages) held goes. Output bases keep their own hard links
 * of the files, so pruning never takes a file away from them.
 */
export async function gcMachineCache(options: { dir: string; dryRun?: boolean }): Promise<GcResult> {
  const store = options.dir;
  if (!fs.existsSync(path.join(store, "nix/var/nix/db"))) {
    return { store, staleRepositories: [], deleted: [], summary: "" };
  }
  const lock = path.join(store, "nix/var/nix/.rules_nixstore-cache.lock");
  if (options.dryRun) {
    const { stdout } = await nixStore(store, ["--gc", "--print-dead"], lock);
    return { store, staleRepositories: [], deleted: storePaths(stdout), summary: "" };
  }
  const { stdout, stderr } = await nixStore(store, ["--gc"], lock);
  const summary = `${stdout}\n${stderr}`.split("\n").find((l) => /store paths deleted/.test(l))?.trim() ?? "";
  return { store, staleRepositories: [], deleted: storePaths(stderr), summary };
}
