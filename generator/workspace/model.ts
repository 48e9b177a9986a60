/**
 * The workspace model: what a user's nixgen.config.ts asks for, as calls of the rules_nixstore
 * repository rules and Bazel flags. Plain typed objects; the templates render them.
 */
import type {
  RemotableStrategy,
  ResolvedCcToolchain,
  ResolvedConfig,
  ResolvedPackage,
  ResolvedRemotableRemote,
  ResolvedRemote,
  ResolvedSource,
} from "../config/index.js";
import { remotableRemote } from "../config/index.js";
import {
  CC_TOOLCHAIN_NAMES,
  EXTENSION_BZL,
  EXTENSION_NAME,
  LOCK_FILE,
  NIXPKGS_CC_CONFIGURE,
  RULES,
  type RuleSpec,
  type StarlarkValue,
} from "../model/index.js";
import type { DiscoveredDeps } from "./nixdeps.js";
import { starlarkLayout, type StarlarkFileType } from "./starlark.js";

/** Where the workspace's lock file lives (written by `nixgen lock`), relative to its root. */
export { LOCK_FILE };

/** The macro of defs.bzl that declares a workspace's packages together. */
const PACKAGES_MACRO = "nixpkgs_packages";

/** The load and macro that WORKSPACE calls. */
export const REPOSITORIES_BZL = "nixstore/repositories.bzl";
export const REPOSITORIES_MACRO = "nixstore_repositories";

/** The committed Bazel flags of the workspace, imported by its .bazelrc. */
export const WORKSPACE_BAZELRC = "nixstore/nixstore.bazelrc";

/** The bzlmod segment that MODULE.bazel includes (with `include()`, Bazel 7.2 or later). */
export const MODULE_SEGMENT = "nixstore/nixstore.MODULE.bazel";

/** The `--config` name of the remote execution flags. */
export const REMOTE_CONFIG = "nixstore-remote";

/** A keyword argument of a rule call, in the order rendered. */
export interface Kwarg {
  readonly name: string;
  readonly value: StarlarkValue;
  /** `value` as Starlark source laid out for an argument line of its call. */
  readonly code: string;
}

/** The module extension of rules_nixstore that nixstore.MODULE.bazel uses. */
export const MODULE_EXTENSION = {
  bzl: EXTENSION_BZL,
  name: EXTENSION_NAME,
} as const;

/** The module extension of remotable packages (remote strategies "remotable" and "shared-store"). */
export const REMOTABLE_EXTENSION = {
  bzl: "@rules_nixstore//rules:remotable_extensions.bzl",
  name: "nixstore_remotable",
} as const;

/** The .bzl whose `nixpkgs_package` takes `remotable = True` (WORKSPACE). */
export const REMOTABLE_BZL = "@rules_nixstore//rules:remotable.bzl";

/**
 * The flag without which Bazel cannot load the remotable rules, set for every command in
 * nixstore/nixstore.bazelrc (`common`: Bazel 4.2.3 and 7 accept it for every command).
 */
export const REMOTABLE_FLAG = "--experimental_repo_remote_exec";

/**
 * One repository of the config, rendered twice: as a call in nixstore_repositories()
 * (WORKSPACE) and as a tag of the module extension in nixstore.MODULE.bazel (bzlmod), with the
 * same attributes.
 */
export interface RepositoryCall {
  /** `nixpkgs_local_repository`, `nixpkgs_http_repository`, `nixpkgs_package` or `nixpkgs_cc_configure`. */
  readonly rule: string;
  /** The rule's tag of the module extension: `local_repository`, `http_repository`, `package` or `cc_configure`. */
  readonly tag: string;
  readonly name: string;
  /** A comment line above the call, or null. */
  readonly comment: string | null;
  /** The WORKSPACE call's arguments: `name` first, the others sorted by name. */
  readonly kwargs: readonly Kwarg[];
  /** The tag's arguments: the same, except that other repositories are named, not labelled. */
  readonly tagKwargs: readonly Kwarg[];
}

/**
 * The C/C++ toolchain: `nixpkgs_cc_configure` in WORKSPACE (which registers its toolchains),
 * the `cc_configure` tag with `use_repo` and `register_toolchains` under bzlmod, and its Bazel
 * flags in nixstore.bazelrc.
 */
export interface CcToolchainModel {
  readonly call: RepositoryCall;
  /** `<name>_toolchains`: the repository MODULE.bazel imports and registers. */
  readonly toolchainsRepository: string;
  /** What `register_toolchains` names: `@<name>_toolchains//:all`. */
  readonly register: string;
  /** The committed flags (`build` lines) the toolchain's programs and tools need. */
  readonly flags: readonly string[];
  /** Flags that select it where Bazel has no C++ toolchain resolution (WORKSPACE on Bazel 4 to 6), or none. */
  readonly crosstoolFlags: readonly string[];
}

export interface WorkspaceModel {
  /** nixpkgs sources, then packages, each in config order, then the C/C++ toolchain. */
  readonly calls: readonly RepositoryCall[];
  /** The sources' calls, in config order (WORKSPACE calls each rule). */
  readonly sourceCalls: readonly RepositoryCall[];
  /**
   * The packages' calls, in config order: WORKSPACE passes them to one `nixpkgs_packages`, so
   * that packages of one nixpkgs share one Nix evaluation, as the module extension does.
   */
  readonly packageCalls: readonly RepositoryCall[];
  /** The symbols loaded from @rules_nixstore//rules:defs.bzl, sorted. */
  readonly loads: readonly string[];
  /** The module extension nixstore.MODULE.bazel uses. */
  readonly extension: typeof MODULE_EXTENSION;
  /** The packages, sorted: bzlmod's use_repo (the sources are only the extension's business). */
  readonly packageNames: readonly string[];
  /** The C/C++ toolchain, or null without `ccToolchain`. */
  readonly ccToolchain: CcToolchainModel | null;
  /**
   * With remote strategy "remotable" or "shared-store": the packages are remotable
   * `nixpkgs_package` calls (loaded from `bzl`) in WORKSPACE and tags of `extension` under
   * bzlmod, which names the sources by label (so nixstore.MODULE.bazel imports them:
   * `sourceNames`); `flag` goes in the bazelrc. `sharedStore`: their closures stay in the Nix
   * pool's store (`remote_closure = "shared-store"`), where their consumers run.
   */
  readonly remotable: {
    readonly strategy: RemotableStrategy;
    readonly sharedStore: boolean;
    readonly bzl: string;
    readonly extension: typeof REMOTABLE_EXTENSION;
    readonly sourceNames: readonly string[];
    readonly flag: string;
  } | null;
  /** Flags of `--config=nixstore-remote`, or null without remote execution. */
  readonly remote: {
    readonly config: string;
    readonly flags: readonly string[];
    /**
     * With a remotable strategy: the executor flags for the commands that fetch but do not take
     * `build`'s flags (`FETCH_COMMANDS`), so that they fetch the packages on the worker too.
     */
    readonly fetch: { readonly commands: readonly string[]; readonly flags: readonly string[] } | null;
  } | null;
  readonly bzlmod: boolean;
}

/** What nixgen finds in the workspace besides the config. */
export interface WorkspaceFacts {
  /** Whether `nixstore.lock.json` exists at the workspace root. */
  readonly lockFile: boolean;
  /** Files each workspace `.nix` label reaches (nix_file_deps found automatically). */
  readonly discovered: Readonly<Record<string, DiscoveredDeps>>;
}

/** nix_file_deps: those the config lists, and those found from `nixFile`, once each, sorted. */
function nixFileDeps(listed: readonly string[], nixFile: string | null, facts: WorkspaceFacts): readonly string[] | null {
  const found = nixFile === null ? [] : (facts.discovered[nixFile]?.deps ?? []);
  if (found.length === 0) return nonEmpty(listed);
  return [...new Set([...listed, ...found])].sort();
}

/** The rule model's spec of `rule` (the macro WORKSPACE calls). */
function ruleSpec(rule: string): RuleSpec {
  const spec = RULES.find((r) => r.name === rule);
  if (spec === undefined) throw new Error(`the rule model has no ${rule}`);
  return spec;
}

/** Where a call's arguments go: their indentation and the file's layout. */
interface CallForm {
  readonly indent: string;
  readonly type: StarlarkFileType;
}

/** A call in `def nixstore_repositories():` of repositories.bzl. */
const WORKSPACE_FORM: CallForm = { indent: "        ", type: "bzl" };

/** A package's `dict(...)` in the `nixpkgs_packages([...])` of repositories.bzl. */
const PACKAGE_FORM: CallForm = { indent: "            ", type: "bzl" };

/** A tag at the top level of nixstore.MODULE.bazel. */
const TAG_FORM: CallForm = { indent: "    ", type: "module" };

/** The arguments of a call in `form`, `name` first, the others sorted; nulls are left out. */
function kwargsOf(
  spec: RuleSpec,
  name: string,
  attrs: Readonly<Record<string, StarlarkValue | undefined>>,
  form: CallForm,
  macroArgs: readonly string[] = [],
): Kwarg[] {
  const accepted = new Set([...spec.attrs.map((a) => a.name), ...macroArgs]);
  const kwarg = (key: string, value: StarlarkValue) => ({ name: key, value, code: starlarkLayout(value, form.indent, form.type) });
  const kwargs: Kwarg[] = [kwarg("name", name)];
  for (const key of Object.keys(attrs).sort()) {
    const value = attrs[key];
    if (value === null || value === undefined) continue;
    if (!accepted.has(key)) throw new Error(`nixgen bug: ${spec.name} has no attribute ${key}`);
    kwargs.push(kwarg(key, value));
  }
  return kwargs;
}

/**
 * Builds a repository's call and tag; `attrs` entries that are null are left out (the rule's
 * default applies). `repositories` (Nix search path name -> repository name of the config) is
 * a label dict in WORKSPACE (`{"nixpkgs": "@nixpkgs"}`) and a dict of tag names in the
 * extension (`{"nixpkgs": "nixpkgs"}`).
 */
function call(
  rule: string,
  name: string,
  comment: string | null,
  attrs: Record<string, StarlarkValue | undefined>,
  repositories: Readonly<Record<string, string>> | null = null,
): RepositoryCall {
  const spec = ruleSpec(rule);
  const labels = repositories && Object.fromEntries(Object.entries(repositories).map(([k, v]) => [k, `@${v}`]));
  return {
    rule,
    tag: spec.tag.name,
    name,
    comment,
    kwargs: kwargsOf(spec, name, { ...attrs, repositories: labels }, rule === "nixpkgs_package" ? PACKAGE_FORM : WORKSPACE_FORM),
    tagKwargs: kwargsOf(spec, name, { ...attrs, repositories }, TAG_FORM),
  };
}

function nonEmpty<T>(list: readonly T[]): readonly T[] | null {
  return list.length > 0 ? list : null;
}

function sourceCall(source: ResolvedSource, facts: WorkspaceFacts): RepositoryCall {
  if (source.kind === "local") {
    return call("nixpkgs_local_repository", source.name, null, {
      nix_file: source.nixFile,
      nix_file_content: source.nixFileContent,
      nix_file_deps: nixFileDeps(source.nixFileDeps, source.nixFile, facts),
    });
  }
  const comment = source.git
    ? `${source.git.repository} at ${source.git.revision}`
    : null;
  return call("nixpkgs_http_repository", source.name, comment, {
    integrity: source.integrity,
    sha256: source.sha256,
    strip_prefix: source.stripPrefix,
    url: source.url,
    urls: source.urls,
  });
}

function packageCall(pkg: ResolvedPackage, config: ResolvedConfig, facts: WorkspaceFacts): RepositoryCall {
  const repositories = Object.keys(pkg.repositories).length > 0 ? pkg.repositories : null;
  return call(
    "nixpkgs_package",
    pkg.name,
    null,
    {
      attribute_path: pkg.attributePath,
      build_file: pkg.buildFile,
      build_file_content: pkg.buildFileContent,
      escaping_symlinks: pkg.escapingSymlinks,
      packed_closure: pkg.packedClosure,
      fail_not_supported: pkg.failNotSupported,
      lock: facts.lockFile ? `//:${LOCK_FILE}` : null,
      nix_file: pkg.nixFile,
      nix_file_content: pkg.nixFileContent,
      nix_file_deps: nixFileDeps(pkg.nixFileDeps, pkg.nixFile, facts),
      nixopts: nonEmpty(pkg.nixopts),
      quiet: pkg.quiet,
      store: config.store === "system" ? "system" : null,
    },
    repositories,
  );
}

/**
 * The C/C++ toolchain's call and flags. Programs it links load the Nix C library from
 * /nix/store: tests and `bazel run` run under its runtime launcher (`--run_under`), and tools for
 * the exec platform are linked statically. The runtime is named in `@<name>_toolchains`, the only
 * one of the two repositories MODULE.bazel imports (an executable of its own there, which Bazel
 * 4.2.3's `bazel run` takes too). Under WORKSPACE, a name other than Bazel's own
 * `local_config_cc` also needs `--crosstool_top` (Bazel 4 to 6 select C++ toolchains by it; with
 * the default name the repository replaces the autodetected one).
 */
function ccToolchainModel(cc: ResolvedCcToolchain, config: ResolvedConfig, facts: WorkspaceFacts): CcToolchainModel {
  const declared = call(
    NIXPKGS_CC_CONFIGURE.name,
    cc.name,
    null,
    {
      attribute_path: cc.attributePath,
      cc_lang: cc.ccLang,
      cc_std: cc.ccStd,
      exec_constraints: nonEmpty(cc.execConstraints),
      fail_not_supported: cc.failNotSupported,
      nix_file: cc.nixFile,
      nix_file_content: cc.nixFileContent,
      nix_file_deps: nixFileDeps(cc.nixFileDeps, cc.nixFile, facts),
      nixopts: nonEmpty(cc.nixopts),
      packed_closure: cc.packedClosure,
      quiet: cc.quiet,
      store: config.store === "system" ? "system" : null,
      target_constraints: nonEmpty(cc.targetConstraints),
    },
    cc.repositories,
  );
  const toolchains = `${cc.name}${CC_TOOLCHAIN_NAMES.toolchainsSuffix}`;
  const runtime = `@${toolchains}//:${CC_TOOLCHAIN_NAMES.runtime}`;
  const suite = `@${cc.name}//:${CC_TOOLCHAIN_NAMES.suite}`;
  return {
    call: declared,
    toolchainsRepository: toolchains,
    register: `@${toolchains}//:all`,
    flags: [`--run_under=${runtime}`, "--host_linkopt=-static"],
    crosstoolFlags:
      config.bzlmod || cc.name === CC_TOOLCHAIN_NAMES.defaultName
        ? []
        : [`--crosstool_top=${suite}`, `--host_crosstool_top=${suite}`],
  };
}

/**
 * Commands that fetch repositories and do not inherit `build`'s flags; Bazel 4.2.3 and 7 accept
 * --remote_executor on each. Switching a remotable repository between local and remote execution
 * fetches it again, so they get the executor too.
 */
const FETCH_COMMANDS = ["fetch", "query", "sync"];

/** Arguments of the remotable `nixpkgs_package` macro and tag that the rule model does not have. */
const REMOTABLE_ARGS = ["exec_properties", "remotable", "repository"];

/**
 * A remotable package: a `nixpkgs_package(..., remotable = True)` of remotable.bzl in WORKSPACE
 * and a `nixstore_remotable.package` tag, whose sources are labels of the nixstore extension's
 * repositories (`@<source>`, which the rule reads as that repository's marker file). With
 * strategy "shared-store" it has `remote_closure = "shared-store"`.
 */
function remotablePackageCall(pkg: ResolvedPackage, remote: ResolvedRemotableRemote, facts: WorkspaceFacts): RepositoryCall {
  const spec = ruleSpec("nixpkgs_package");
  const attrs = {
    attribute_path: pkg.attributePath,
    build_file: pkg.buildFile,
    build_file_content: pkg.buildFileContent,
    escaping_symlinks: pkg.escapingSymlinks,
    packed_closure: pkg.packedClosure,
    exec_properties: Object.keys(remote.nixBuildExecProperties).length > 0 ? remote.nixBuildExecProperties : null,
    max_closure_mib: remote.maxClosureMib,
    nix_file: pkg.nixFile,
    nix_file_content: pkg.nixFileContent,
    nix_file_deps: nixFileDeps(pkg.nixFileDeps, pkg.nixFile, facts),
    nixopts: nonEmpty(pkg.nixopts),
    quiet: pkg.quiet,
    remote_closure: remote.strategy === "shared-store" ? "shared-store" : null,
    remote_path: remote.remotePath,
  };
  const entries = Object.entries(pkg.repositories);
  const labels = Object.fromEntries(entries.map(([nixName, source]) => [nixName, `@${source}`]));
  const label = (source: string) => `@${source}`;
  const tagRepositories =
    entries.length === 1 && entries[0]![0] === "nixpkgs"
      ? { repository: label(entries[0]![1]) }
      : { repositories: entries.length > 0 ? Object.fromEntries(entries.map(([nixName, source]) => [label(source), nixName])) : null };
  return {
    rule: spec.name,
    tag: "package",
    name: pkg.name,
    comment: null,
    kwargs: kwargsOf(spec, pkg.name, { ...attrs, remotable: true, repositories: entries.length > 0 ? labels : null }, WORKSPACE_FORM, REMOTABLE_ARGS),
    tagKwargs: kwargsOf(spec, pkg.name, { ...attrs, ...tagRepositories }, TAG_FORM, REMOTABLE_ARGS),
  };
}

/** The flags that reach the remote executor. */
function executorFlags(remote: ResolvedRemote): string[] {
  const flags = [`--remote_executor=${remote.executor}`];
  if (remote.instanceName !== null) flags.push(`--remote_instance_name=${remote.instanceName}`);
  return flags;
}

function remoteFlags(config: ResolvedConfig): string[] | null {
  const remote = config.remote;
  if (remote === null) return null;
  const flags = executorFlags(remote);
  for (const key of Object.keys(remote.execProperties).sort()) {
    flags.push(`--remote_default_exec_properties=${key}=${remote.execProperties[key]}`);
  }
  flags.push("--spawn_strategy=remote", "--remote_local_fallback=false");
  // A fixed action environment: without it, Bazel (4.2.3 and 7) puts the client's PATH into
  // every action's environment, and so into its remote cache key, which then differs between
  // developers' machines.
  flags.push("--incompatible_strict_action_env");
  return flags;
}

/** The model of a checked config. */
export function workspaceModel(config: ResolvedConfig, facts: WorkspaceFacts): WorkspaceModel {
  const remote = config.remote;
  const remotable = remotableRemote(remote);
  const sourceCalls = config.sources.map((s) => sourceCall(s, facts));
  const packageCalls = config.packages.map((p) =>
    remotable !== null ? remotablePackageCall(p, remotable, facts) : packageCall(p, config, facts),
  );
  const flags = remoteFlags(config);
  const grouped = packageCalls.length > 0 && remotable === null;
  const ccToolchain = config.ccToolchain === null ? null : ccToolchainModel(config.ccToolchain, config, facts);
  const ccCalls = ccToolchain === null ? [] : [ccToolchain.call];
  return {
    calls: [...sourceCalls, ...packageCalls, ...ccCalls],
    sourceCalls,
    packageCalls,
    loads: [
      ...new Set([...sourceCalls.map((c) => c.rule), ...(grouped ? [PACKAGES_MACRO] : []), ...ccCalls.map((c) => c.rule)]),
    ].sort(),
    extension: MODULE_EXTENSION,
    packageNames: config.packages.map((p) => p.name).sort(),
    ccToolchain,
    remotable:
      remotable === null
        ? null
        : {
            strategy: remotable.strategy,
            sharedStore: remotable.strategy === "shared-store",
            bzl: REMOTABLE_BZL,
            extension: REMOTABLE_EXTENSION,
            sourceNames: config.sources.map((s) => s.name).sort(),
            flag: REMOTABLE_FLAG,
          },
    remote:
      flags === null || remote === null
        ? null
        : {
            config: REMOTE_CONFIG,
            flags,
            fetch: remotable === null ? null : { commands: FETCH_COMMANDS, flags: executorFlags(remote) },
          },
    bzlmod: config.bzlmod,
  };
}
