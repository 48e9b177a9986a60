/**
 * The workspace model: what a user's nixgen.config.ts asks for, as calls of the rules_nixstore
 * repository rules and Bazel flags. Plain typed objects; the templates render them.
 */
import type { ResolvedConfig, ResolvedPackage, ResolvedSource } from "../config/index.js";
import { RULES, type StarlarkValue } from "../model/index.js";
import type { DiscoveredDeps } from "./nixdeps.js";
import { starlarkLayout } from "./starlark.js";

/** Where the workspace's lock file lives (written by `nixgen lock`), relative to its root. */
export const LOCK_FILE = "nixstore.lock.json";

/** The load and macro that WORKSPACE calls. */
export const REPOSITORIES_BZL = "nixstore/repositories.bzl";
export const REPOSITORIES_MACRO = "nixstore_repositories";

/** The committed Bazel flags of the workspace, imported by its .bazelrc. */
export const WORKSPACE_BAZELRC = "nixstore/nixstore.bazelrc";

/** The bzlmod segment that MODULE.bazel includes. */
export const MODULE_SEGMENT = "nixstore/nixstore.MODULE.bazel";

/** The `--config` name of the remote execution flags. */
export const REMOTE_CONFIG = "nixstore-remote";

/** A keyword argument of a rule call, in the order rendered. */
export interface Kwarg {
  readonly name: string;
  readonly value: StarlarkValue;
  /** `value` as Starlark source laid out for an argument line of a call inside a def. */
  readonly code: string;
}

/** Indentation of an argument line of a call inside `def nixstore_repositories():`. */
const ARGUMENT_INDENT = "        ";

/** One call in nixstore_repositories(). */
export interface RepositoryCall {
  /** `nixpkgs_local_repository`, `nixpkgs_http_repository` or `nixpkgs_package`. */
  readonly rule: string;
  readonly name: string;
  /** A comment line above the call, or null. */
  readonly comment: string | null;
  /** `name` first, the others sorted by name. */
  readonly kwargs: readonly Kwarg[];
}

export interface WorkspaceModel {
  /** nixpkgs sources, then packages, each in config order. */
  readonly calls: readonly RepositoryCall[];
  /** The symbols loaded from @rules_nixstore//rules:defs.bzl, sorted. */
  readonly loads: readonly string[];
  /** Every repository the calls declare, sorted (bzlmod's use_repo). */
  readonly repoNames: readonly string[];
  /** Flags of `--config=nixstore-remote`, or null without remote execution. */
  readonly remote: { readonly config: string; readonly flags: readonly string[] } | null;
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

/** Attribute names each rule (or its macro) accepts, from the rule model. */
function acceptedAttrs(rule: string): ReadonlySet<string> {
  const spec = RULES.find((r) => r.name === rule);
  if (spec === undefined) throw new Error(`the rule model has no ${rule}`);
  const names = spec.attrs.map((a) => a.name);
  return new Set(["name", ...names]);
}

/** Builds a call; `attrs` entries that are null are left out (the rule's default applies). */
function call(
  rule: string,
  name: string,
  comment: string | null,
  attrs: Record<string, StarlarkValue | undefined>,
): RepositoryCall {
  const accepted = acceptedAttrs(rule);
  const kwargs: Kwarg[] = [];
  for (const key of Object.keys(attrs).sort()) {
    const value = attrs[key];
    if (value === null || value === undefined) continue;
    if (!accepted.has(key)) throw new Error(`nixgen bug: ${rule} has no attribute ${key}`);
    kwargs.push({ name: key, value, code: starlarkLayout(value, ARGUMENT_INDENT) });
  }
  const first = { name: "name", value: name, code: starlarkLayout(name, ARGUMENT_INDENT) };
  return { rule, name, comment, kwargs: [first, ...kwargs] };
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
  const repositories: Record<string, string> = {};
  for (const [nixName, source] of Object.entries(pkg.repositories)) {
    repositories[nixName] = `@${source}`;
  }
  return call("nixpkgs_package", pkg.name, null, {
    attribute_path: pkg.attributePath,
    build_file: pkg.buildFile,
    build_file_content: pkg.buildFileContent,
    fail_not_supported: pkg.failNotSupported,
    lock: facts.lockFile ? `//:${LOCK_FILE}` : null,
    nix_file: pkg.nixFile,
    nix_file_content: pkg.nixFileContent,
    nix_file_deps: nixFileDeps(pkg.nixFileDeps, pkg.nixFile, facts),
    nixopts: nonEmpty(pkg.nixopts),
    quiet: pkg.quiet,
    repositories: Object.keys(repositories).length > 0 ? repositories : null,
    store: config.store === "system" ? "system" : null,
  });
}

function remoteFlags(config: ResolvedConfig): string[] | null {
  const remote = config.remote;
  if (remote === null) return null;
  const flags = [`--remote_executor=${remote.executor}`];
  if (remote.instanceName !== null) flags.push(`--remote_instance_name=${remote.instanceName}`);
  for (const key of Object.keys(remote.execProperties).sort()) {
    flags.push(`--remote_default_exec_properties=${key}=${remote.execProperties[key]}`);
  }
  flags.push("--spawn_strategy=remote", "--remote_local_fallback=false");
  return flags;
}

/** The model of a checked config. */
export function workspaceModel(config: ResolvedConfig, facts: WorkspaceFacts): WorkspaceModel {
  const calls = [
    ...config.sources.map((s) => sourceCall(s, facts)),
    ...config.packages.map((p) => packageCall(p, config, facts)),
  ];
  const flags = remoteFlags(config);
  return {
    calls,
    loads: [...new Set(calls.map((c) => c.rule))].sort(),
    repoNames: calls.map((c) => c.name).sort(),
    remote: flags === null ? null : { config: REMOTE_CONFIG, flags },
    bzlmod: config.bzlmod,
  };
}
