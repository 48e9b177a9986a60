// Temp Bazel workspaces that consume rules_nixstore from this checkout (local_repository under
// WORKSPACE, local_path_override under bzlmod), with the offline fixture nixpkgs, a private
// output base, and the .bazelrc fragment written by `nixgen bazelrc`. Everything here is real:
// Debian's Bazel 4.2.3 and Nix 2.8, or Bazel 7.7.1 and Nix 2.34 in the sid root (flavors.ts).
import { execa, type Options, type Result } from "execa";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { MACHINE_CACHE_ENV, NAR_CACHE_PREFIX } from "../../generator/model/index.js";
import { BAZEL4, REPO_ROOT, hasMountTarget, storeDir, type Flavor } from "./flavors.js";

export { BAZEL4, BAZEL7, FLAVORS, SID_ROOT, hasMountTarget, storeDir, type Flavor } from "./flavors.js";

export { REPO_ROOT };
export const FIXTURE = join(REPO_ROOT, "test/fixtures/nixpkgs");
/** The built nixgen CLI (npm run build). */
export const NIXGEN = join(REPO_ROOT, "dist/generator/cli.js");

/** nixopts every fixture package gets: no binary cache (there is no network here). */
export const OFFLINE_NIXOPTS = ["--option", "substituters", ""];

/** A test script: `expect_output.sh EXPECTED PROGRAM [ARGS...]` runs PROGRAM and compares stdout. */
export const EXPECT_OUTPUT_SH = `#!/bin/sh
# usage: expect_output.sh EXPECTED PROGRAM [ARGS...]
expected=$1; shift
actual=$("$@") || { echo "FAIL: $* exited $?"; exit 1; }
[ "$actual" = "$expected" ] || { echo "FAIL: $* printed '$actual', expected '$expected'"; exit 1; }
echo "ok: $*"
`;

export interface PackageSpec {
  name: string;
  attribute_path?: string;
  /** The nixpkgs repository it is built from (default "nixpkgs", the fixture); null for none. */
  repository?: string | null;
  /** Extra Starlark attributes, rendered verbatim (e.g. `build_file_content = "..."`). */
  extra?: string;
  /** Its nixopts (default OFFLINE_NIXOPTS: no binary cache). */
  nixopts?: string[];
}

/**
 * A C/C++ toolchain from the fixture nixpkgs (`nixpkgs_cc_configure` under WORKSPACE, the
 * extension's `cc_configure` tag and the toolchains' registration under bzlmod).
 */
export interface CcSpec {
  /** The toolchain repository (default "local_config_cc"); its toolchains are `<name>_toolchains`. */
  name?: string;
  /** Extra Starlark attributes, rendered verbatim (e.g. `attribute_path = "hello"`). */
  extra?: string;
  /** Whether to register its toolchains (default true). */
  register?: boolean;
}

/** The toolchain repository's name. */
export function ccName(cc: CcSpec): string {
  return cc.name ?? "local_config_cc";
}

/**
 * The Bazel flags a workspace with the toolchain needs (nixgen writes them into
 * nixstore/nixstore.bazelrc): tests and `bazel run` run under the toolchain's runtime, and exec
 * tools are linked statically.
 */
export function ccFlags(cc: CcSpec = {}): string[] {
  const name = ccName(cc);
  return [`--run_under=@${name}_toolchains//:runtime`, "--host_linkopt=-static"];
}

function ccCall(cc: CcSpec, bzlmod: boolean): string[] {
  const name = ccName(cc);
  const attrs = [
    `name = ${JSON.stringify(name)}`,
    `repository = ${JSON.stringify(bzlmod ? "nixpkgs" : "@nixpkgs")}`,
    `nixopts = ${starlarkList(OFFLINE_NIXOPTS)}`,
    `quiet = True`,
    ...(cc.extra ? [cc.extra] : []),
    ...(!bzlmod && cc.register === false ? ["register = False"] : []),
  ];
  const call = `${bzlmod ? "nixstore.cc_configure" : "nixpkgs_cc_configure"}(\n    ${attrs.join(",\n    ")},\n)`;
  if (!bzlmod) return [call];
  return [
    call,
    `use_repo(nixstore, ${JSON.stringify(name)}, ${JSON.stringify(name + "_toolchains")})`,
    ...(cc.register === false ? [] : [`register_toolchains("@${name}_toolchains//:all")`]),
  ];
}

/** A nixpkgs source besides the fixture's "nixpkgs": one of the extension's repository tags. */
export interface SourceSpec {
  kind: "local_repository" | "http_repository" | "git_repository";
  name: string;
  /** Its attributes as Starlark keyword arguments, e.g. `url = "...", sha256 = "..."`. */
  attrs: string;
}

export interface WorkspaceOptions {
  packages: PackageSpec[];
  /** nixpkgs sources besides the fixture's "nixpkgs". */
  sources?: SourceSpec[];
  /** Content of the workspace's root BUILD.bazel. */
  build: string;
  /** Extra files of the workspace, path -> content. */
  files?: Record<string, string>;
  /** Write the --sandbox_add_mount_pair into .nixstore.bazelrc (default: where /nix/store exists). */
  mountPair?: boolean;
  /** C/C++ toolchains from the fixture nixpkgs. */
  cc?: CcSpec[];
  /** Under WORKSPACE, a `nixpkgs_package` call per package (see Workspace.separate). */
  separate?: boolean;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

export function starlarkList(items: string[]): string {
  return "[" + items.map((i) => JSON.stringify(i)).join(", ") + "]";
}

/** The version rules_nixstore declares (package.json; MODULE.bazel is rendered from it). */
export const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;

/** WORKSPACE rule (from defs.bzl) of each extension tag. */
const WORKSPACE_RULE: Record<SourceSpec["kind"], string> = {
  local_repository: "nixpkgs_local_repository",
  http_repository: "nixpkgs_http_repository",
  git_repository: "nixpkgs_git_repository",
};

/**
 * A package declaration: an entry `dict(...)` of `nixpkgs_packages([...])` (WORKSPACE) or
 * `nixstore.package(...)` (bzlmod); both let the packages of one nixpkgs share its evaluation.
 */
export function packageCall(p: PackageSpec, bzlmod = false, separate = false): string {
  const repository = p.repository === undefined ? "nixpkgs" : p.repository;
  const attrs = [
    `name = ${JSON.stringify(p.name)}`,
    `attribute_path = ${JSON.stringify(p.attribute_path ?? p.name)}`,
    ...(repository === null ? [] : [`repository = ${JSON.stringify(bzlmod ? repository : `@${repository}`)}`]),
    `nixopts = ${starlarkList(p.nixopts ?? OFFLINE_NIXOPTS)}`,
    `quiet = True`,
  ];
  if (p.extra) attrs.push(p.extra);
  return `${bzlmod ? "nixstore.package" : separate ? "nixpkgs_package" : "dict"}(\n    ${attrs.join(",\n    ")},\n)`;
}

function sourceCall(s: SourceSpec, bzlmod: boolean): string {
  return `${bzlmod ? `nixstore.${s.kind}` : WORKSPACE_RULE[s.kind]}(\n    name = ${JSON.stringify(s.name)},\n    ${s.attrs},\n)`;
}

/** Labels of the files of `<dir>/nixpkgs` (the fixture's copy), but its BUILD.bazel. */
function fixtureLabels(dir: string): string[] {
  return walk(join(dir, "nixpkgs"))
    .map((f) => relative(join(dir, "nixpkgs"), f))
    .filter((f) => f !== "BUILD.bazel")
    .sort()
    .map((f) => `//nixpkgs:${f}`);
}

/** Copies the fixture nixpkgs to `<dir>/nixpkgs`, as a package; returns the labels of its files. */
export function copyFixture(dir: string): string[] {
  cpSync(FIXTURE, join(dir, "nixpkgs"), { recursive: true });
  writeFileSync(join(dir, "nixpkgs/BUILD.bazel"), `exports_files(glob(["**"]))\n`);
  return fixtureLabels(dir);
}

/** The fixture nixpkgs of the workspace (its files under nixpkgs/) as a source. */
function fixtureSource(dir: string): SourceSpec {
  const deps = fixtureLabels(dir);
  return { kind: "local_repository", name: "nixpkgs", attrs: `nix_file = "//nixpkgs:default.nix",\n    nix_file_deps = ${starlarkList(deps)}` };
}

/** MODULE.bazel of a bzlmod test workspace: rules_nixstore from a checkout, and the packages. */
export function moduleFile(packages: PackageSpec[], sources: SourceSpec[], rulesNixstore = REPO_ROOT, cc: CcSpec[] = []): string {
  return [
    `module(name = "it")`,
    ``,
    `bazel_dep(name = "rules_nixstore", version = ${JSON.stringify(VERSION)})`,
    `local_path_override(module_name = "rules_nixstore", path = ${JSON.stringify(rulesNixstore)})`,
    ``,
    `nixstore = use_extension("@rules_nixstore//rules:extensions.bzl", "nixstore")`,
    ...sources.map((s) => sourceCall(s, true)),
    ...packages.map((p) => packageCall(p, true)),
    `use_repo(nixstore, ${[...sources.map((s) => s.name), ...packages.map((p) => p.name)].map((n) => JSON.stringify(n)).join(", ")})`,
    ...cc.flatMap((c) => ccCall(c, true)),
    "",
  ].join("\n");
}

function workspaceFile(packages: PackageSpec[], sources: SourceSpec[], rulesNixstore = REPO_ROOT, cc: CcSpec[] = [], separate = false): string {
  const rules = [...new Set(sources.map((s) => WORKSPACE_RULE[s.kind])), separate ? "nixpkgs_package" : "nixpkgs_packages", ...(cc.length ? ["nixpkgs_cc_configure"] : [])].sort();
  return [
    `workspace(name = "it")`,
    `local_repository(name = "rules_nixstore", path = ${JSON.stringify(rulesNixstore)})`,
    `load("@rules_nixstore//rules:repositories.bzl", "rules_nixstore_dependencies")`,
    `rules_nixstore_dependencies()`,
    `load("@rules_nixstore//rules:defs.bzl", ${rules.map((r) => JSON.stringify(r)).join(", ")})`,
    ...sources.map((s) => sourceCall(s, false)),
    separate
      ? packages.map((p) => packageCall(p, false, true)).join("\n")
      : `nixpkgs_packages([\n${packages.map((p) => packageCall(p, false) + ",\n").join("")}])`,
    ...cc.flatMap((c) => ccCall(c, false)),
    "",
  ].join("\n");
}

/**
 * The file that declares the packages of a workspace in `dir` (whose nixpkgs/ holds the
 * fixture): WORKSPACE on Bazel 4, MODULE.bazel with the nixstore extension on Bazel 7, taking
 * rules_nixstore from `rulesNixstore` (default: this checkout).
 */
export function declarations(
  flavor: Flavor,
  dir: string,
  packages: PackageSpec[],
  sources: SourceSpec[] = [],
  rulesNixstore = REPO_ROOT,
  cc: CcSpec[] = [],
  separate = false,
): { file: string; text: string } {
  const all = [fixtureSource(dir), ...sources];
  return flavor.bzlmod
    ? { file: "MODULE.bazel", text: moduleFile(packages, all, rulesNixstore, cc) }
    : { file: "WORKSPACE", text: workspaceFile(packages, all, rulesNixstore, cc, separate) };
}

/** The environment variable naming the machine cache, and where a launcher unpacks a packed closure (this, then the uid). */
export { MACHINE_CACHE_ENV, NAR_CACHE_PREFIX };

export class Workspace {
  readonly dir: string;
  readonly outputBase: string;
  /**
   * The machine cache of this workspace's Bazel and nixgen commands (RULES_NIXSTORE_MACHINE_CACHE
   * in their environment): its own, so that no test shares built paths with another test or
   * with the user's real cache. A test may point several workspaces at one cache.
   */
  machineCache: string;
  /** Sources besides the fixture's, kept by writePackages. */
  private sources: SourceSpec[] = [];
  /** C/C++ toolchains, kept by writePackages. */
  cc: CcSpec[] = [];
  /**
   * Under WORKSPACE, declare each package with its own `nixpkgs_package` call, as rules_nixpkgs
   * users write them (default: one `nixpkgs_packages` list).
   */
  separate = false;

  constructor(
    readonly root: string,
    readonly flavor: Flavor = BAZEL4,
  ) {
    this.dir = join(root, "ws");
    this.outputBase = join(root, "ob");
    this.machineCache = join(root, "machine-cache");
  }

  write(path: string, content: string): void {
    mkdirSync(dirname(join(this.dir, path)), { recursive: true });
    writeFileSync(join(this.dir, path), content, { mode: path.endsWith(".sh") ? 0o755 : 0o644 });
  }

  read(path: string): string {
    return readFileSync(join(this.dir, path), "utf8");
  }

  /**
   * Declares these packages (and sources, which later calls keep unless given): WORKSPACE on
   * Bazel 4, MODULE.bazel with the nixstore extension on Bazel 7. Used again by tests that
   * change a package.
   */
  writePackages(packages: PackageSpec[], sources: SourceSpec[] = this.sources, cc: CcSpec[] = this.cc): void {
    this.sources = sources;
    this.cc = cc;
    const { file, text } = declarations(this.flavor, this.dir, packages, sources, REPO_ROOT, cc, this.separate);
    this.write(file, text);
  }

  /** Writes .nixstore.bazelrc with the real `nixgen bazelrc`, run on the workspace's machine. */
  async writeBazelrc(mountPair: boolean): Promise<Result> {
    // A mount target that does not exist makes nixgen leave the mount pair out.
    const args = mountPair ? [] : ["--mount-target", join(this.root, "no-such-mount-target")];
    return nixgenBazelrc(this.dir, this.outputBase, args, this.flavor);
  }

  async bazel(args: string[], env: Record<string, string> = {}): Promise<Result> {
    return execa(this.flavor.bazel, [`--output_base=${this.outputBase}`, "--max_idle_secs=600", ...args], {
      cwd: this.dir,
      reject: false,
      all: true,
      env: { [MACHINE_CACHE_ENV]: this.machineCache, ...env },
      stdin: "ignore",
    });
  }

  /**
   * Fetches these repositories again: `bazel sync --only=...` under WORKSPACE (Bazel 4), and
   * `bazel fetch --force --repo=@...` under bzlmod (Bazel 7 has no sync for module repositories).
   */
  async refetch(names: string[], flags: string[] = []): Promise<Result> {
    return this.bazel(this.refetchArgs(names, flags));
  }

  /** The Bazel arguments of `refetch`, for a caller that runs Bazel its own way (under strace, timed). */
  refetchArgs(names: string[], flags: string[] = []): string[] {
    if (this.flavor.bzlmod) return ["fetch", "--force", ...flags, ...names.map((n) => `--repo=@${n}`)];
    return ["sync", ...flags, ...names.map((n) => `--only=${n}`)];
  }

  /** Runs a command on the workspace's machine (the host, or the sid root), in the workspace. */
  async run(argv: string[], env: Record<string, string> = {}): Promise<Result> {
    const [cmd, args] = this.flavor.command(argv);
    return execa(cmd, args, { cwd: this.dir, reject: false, all: true, env: { [MACHINE_CACHE_ENV]: this.machineCache, ...env }, stdin: "ignore" });
  }

  /** Runs the built nixgen on the workspace's machine, in the workspace. */
  async nixgen(args: string[], env: Record<string, string> = {}): Promise<Result> {
    return this.run(["node", NIXGEN, ...args], env);
  }

  /** The directory of repository `name` in the output base. */
  repoDir(name: string): string {
    return join(this.outputBase, "external", this.flavor.canonical(name));
  }

  /** The execution path of repository `name` (`external/<canonical name>`). */
  execPath(name: string): string {
    return `external/${this.flavor.canonical(name)}`;
  }

  bin(path: string): string {
    return readFileSync(join(this.dir, "bazel-bin", path), "utf8");
  }

  async close(): Promise<void> {
    await this.bazel(["shutdown"]);
    await execa("chmod", ["-R", "u+w", this.root], { reject: false });
    await execa("rm", ["-rf", this.root], { reject: false });
  }
}

/** A temp workspace with the fixture nixpkgs, on the given machine. */
export async function makeWorkspace(flavor: Flavor, opts: WorkspaceOptions): Promise<Workspace> {
  const ws = new Workspace(mkdtempSync(join(tmpdir(), `nixstore-it-${flavor.id}-`)), flavor);
  mkdirSync(ws.dir, { recursive: true });
  copyFixture(ws.dir);
  ws.separate = opts.separate ?? false;
  ws.writePackages(opts.packages, opts.sources ?? [], opts.cc ?? []);
  ws.write("BUILD.bazel", opts.build);
  ws.write(".bazelrc", "try-import %workspace%/.nixstore.bazelrc\nbuild --show_progress_rate_limit=60\n");
  for (const [path, content] of Object.entries(opts.files ?? {})) ws.write(path, content);
  await ws.writeBazelrc(opts.mountPair ?? hasMountTarget(flavor));
  return ws;
}

/** Names of the store paths (hash-name) in the machine's /nix/store, or [] when it does not exist. */
export function hostStoreEntries(flavor: Flavor = BAZEL4): string[] {
  const dir = storeDir(flavor);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((e) => !e.startsWith("."));
}

/**
 * Runs `body`, then deletes from the machine's /nix/store (the host's, or the sid root's) the
 * paths it added. A build into the machine's store (a remotable package without an executor)
 * would otherwise stay there, where local.test.ts checks that the fixture's paths are absent.
 */
export async function leavingMachineStore<T>(ws: Workspace, body: () => Promise<T>): Promise<T> {
  const before = new Set(hostStoreEntries(ws.flavor));
  try {
    return await body();
  } finally {
    const added = hostStoreEntries(ws.flavor)
      .filter((e) => !before.has(e))
      .map((e) => `/nix/store/${e}`);
    if (added.length > 0) {
      const deleted = await ws.run(["nix-store", "--delete", "--ignore-liveness", ...added], { NIX_CONFIG: "build-users-group =" });
      if (deleted.exitCode !== 0) throw new Error(`removing the ${added.length} paths a test added to the machine's store failed:\n${deleted.all}`);
    }
  }
}

/** Store path entries (hash-name) of every repository's closure in this output base. */
export function closureEntries(ws: Workspace, repo: string): string[] {
  return readFileSync(join(ws.repoDir(repo), "nix/closure.txt"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((p) => p.replace("/nix/store/", ""));
}

/**
 * What a command did, for failure messages: the command, where it ran (when given), its exit
 * code or signal, and the end of its output (interleaved when captured with `all`).
 */
export function explain(result: Result, cwd?: unknown): string {
  const tail = (text: unknown) => String(text ?? "").split("\n").slice(-120).join("\n");
  const status = `exit ${result.exitCode ?? "none"}${result.signal ? `, signal ${result.signal}` : ""}`;
  const where = cwd === undefined ? "" : ` in ${String(cwd)}`;
  const output =
    result.all !== undefined
      ? tail(result.all)
      : `--- stderr (end)\n${tail(result.stderr)}\n--- stdout (end)\n${tail(result.stdout)}`;
  return `${status} of ${result.command}${where}\n${output}`;
}

/** Runs a command; when it fails (or cannot start), throws with `explain`'s report. */
export async function run(file: string, args: readonly string[], options: Options = {}): Promise<Result> {
  const result = (await execa(file, args, { stdin: "ignore", ...options, reject: false })) as Result;
  if (result.exitCode !== 0 || result.failed) throw new Error(explain(result, options.cwd ?? process.cwd()));
  return result;
}

/**
 * Copies examples/<example> to `dir` as a user would copy it, without Bazel's convenience
 * symlinks or a machine's .nixstore.bazelrc, and points its reference to rules_nixstore
 * (`path = "../.."`, a local_repository in WORKSPACE or a local_path_override in MODULE.bazel)
 * at this checkout.
 */
export function copyExample(example: string, dir: string): void {
  cpSync(join(REPO_ROOT, "examples", example), dir, {
    recursive: true,
    filter: (src) => !/\/(bazel-[^/]*|\.nixstore\.bazelrc)$/.test(src),
  });
  // An example may serve both Bazels: MODULE.bazel (bzlmod) and WORKSPACE.
  const files = ["MODULE.bazel", "WORKSPACE"].filter((f) => existsSync(join(dir, f)));
  for (const file of files) {
    const text = readFileSync(join(dir, file), "utf8");
    if (!text.includes(`path = "../.."`)) {
      throw new Error(`examples/${example}/${file} no longer refers to rules_nixstore with path = "../.."`);
    }
    writeFileSync(join(dir, file), text.replace(`path = "../.."`, `path = ${JSON.stringify(REPO_ROOT)}`));
  }
}

/** Runs `nixgen bazelrc` for a workspace and output base (the machine's .nixstore.bazelrc). */
export async function nixgenBazelrc(
  workspace: string,
  outputBase: string,
  args: string[] = [],
  flavor: Flavor = BAZEL4,
): Promise<Result> {
  const [cmd, argv] = flavor.command(["node", NIXGEN, "bazelrc", "--workspace", workspace, "--output-base", outputBase, ...args]);
  return execa(cmd, argv, { reject: true, all: true });
}

/** Bazel's closing "N processes: ..." summary of a build, or "". */
export function processes(all: unknown): string {
  return /INFO: (\d+ processes?[^\n]*)/.exec(String(all ?? ""))?.[1] ?? "";
}

/** One spawn of Bazel's JSON execution log (the fields compared here). */
export interface Spawn {
  mnemonic?: string;
  listedOutputs?: string[];
  inputs?: { path: string; digest?: { hash: string } }[];
  environmentVariables?: { name: string; value: string }[];
  commandArgs?: string[];
  /** Bazel 4.2.3's name of the field. */
  remoteCacheHit?: boolean;
  /** Bazel 7's. */
  cacheHit?: boolean;
  /** The action's digest (its remote cache key), which Bazel 7 logs and Bazel 4.2.3 does not. */
  digest?: { hash: string };
}

/** Bazel writes the JSON execution log as objects one after the other, not as an array. */
export function parseExecutionLog(text: string): Spawn[] {
  const spawns: Spawn[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" && depth++ === 0) start = i;
    else if (c === "}" && --depth === 0) spawns.push(JSON.parse(text.slice(start, i + 1)) as Spawn);
  }
  return spawns;
}


/** Every user's cache of unpacked closures on this machine. */
export function narCaches(): string[] {
  const dir = dirname(NAR_CACHE_PREFIX);
  return readdirSync(dir)
    .filter((e) => e.startsWith(basename(NAR_CACHE_PREFIX)))
    .map((e) => join(dir, e));
}
