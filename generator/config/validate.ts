/**
 * Checks the literal tree of nixgen.config.ts against the `Config` type (types.ts) and resolves
 * defaults, collecting every problem with its position: unknown keys (with a did-you-mean),
 * wrong types, conflicting options and references to sources that do not exist.
 */
import { closest, type Diagnostic, type Position } from "./diagnostics.js";
import type { Literal, ObjectLiteral, Property } from "./literal.js";

/** A nixpkgs source, resolved to the repository rule that provides it. */
export type ResolvedSource =
  | {
      readonly kind: "local";
      readonly name: string;
      readonly nixFile: string | null;
      readonly nixFileContent: string | null;
      readonly nixFileDeps: readonly string[];
    }
  | {
      readonly kind: "http";
      readonly name: string;
      /** Set for `url` (one URL), null for `urls`. */
      readonly url: string | null;
      readonly urls: readonly string[] | null;
      readonly sha256: string | null;
      readonly integrity: string | null;
      readonly stripPrefix: string | null;
      /** For `git` sources: the repository and commit the archive comes from. */
      readonly git: { readonly repository: string; readonly revision: string } | null;
    };

export interface ResolvedPackage {
  readonly name: string;
  /** Null when a nix file is given without one (its top-level expression is built). */
  readonly attributePath: string | null;
  readonly nixFile: string | null;
  readonly nixFileContent: string | null;
  readonly nixFileDeps: readonly string[];
  readonly buildFile: string | null;
  readonly buildFileContent: string | null;
  readonly nixopts: readonly string[];
  /** Nix search path name → source name. */
  readonly repositories: Readonly<Record<string, string>>;
  readonly quiet: boolean | null;
  readonly failNotSupported: boolean | null;
  readonly escapingSymlinks: "drop" | "fail" | null;
  readonly packedClosure: boolean | null;
}

interface RemoteBase {
  readonly executor: string;
  readonly instanceName: string | null;
  /** `--remote_default_exec_properties`: the platform of the build's actions. */
  readonly execProperties: Readonly<Record<string, string>>;
}

/** Remote execution: the client builds the packages, the launchers map them on the workers. */
export interface ResolvedLauncherRemote extends RemoteBase {
  readonly strategy: "launcher";
}

/**
 * Remote execution where each package's Nix build is a remotable repository rule on the Nix
 * pool: "remotable" sends the closure back to the client; "shared-store" leaves it in the pool's
 * shared store (`remote_closure = "shared-store"`), where the consumers' actions then run.
 */
export interface ResolvedRemotableRemote extends RemoteBase {
  readonly strategy: RemotableStrategy;
  /** The packages' `exec_properties`: the platform of their Nix builds. */
  readonly nixBuildExecProperties: Readonly<Record<string, string>>;
  /** The packages' `remote_path`, or null for the rule's default. */
  readonly remotePath: string | null;
  /** The packages' `max_closure_mib`, or null for the rule's default. */
  readonly maxClosureMib: number | null;
}

export type ResolvedRemote = ResolvedLauncherRemote | ResolvedRemotableRemote;

/** The strategies whose packages are remotable repository rules, built on the Nix pool. */
const REMOTABLE_STRATEGIES = ["remotable", "shared-store"] as const;
export type RemotableStrategy = (typeof REMOTABLE_STRATEGIES)[number];

/** Whether `strategy` builds the packages as remotable repository rules (on the Nix pool). */
function isRemotableStrategy(strategy: string | null | undefined): strategy is RemotableStrategy {
  return (REMOTABLE_STRATEGIES as readonly string[]).includes(strategy ?? "");
}

/** The remote settings when the packages are remotable repository rules, else null. */
export function remotableRemote(remote: ResolvedRemote | null): ResolvedRemotableRemote | null {
  return remote !== null && remote.strategy !== "launcher" ? remote : null;
}

/** A checked config with its defaults filled in; the input of the workspace model. */
export interface ResolvedConfig {
  readonly sources: readonly ResolvedSource[];
  readonly packages: readonly ResolvedPackage[];
  readonly store: "output-base" | "system";
  readonly remote: ResolvedRemote | null;
  readonly bzlmod: boolean;
}

/** Bazel repository names (WORKSPACE and bzlmod apparent names alike). */
const REPO_NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/;
/** A label as nixgen passes it on: absolute (`//pkg:file`) or in a repository (`@repo//...`). */
const LABEL = /^(@@?[A-Za-z0-9_.~+-]*)?\/\/[^:\s]*(:[^\s]+)?$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const SRI = /^sha(256|384|512)-[A-Za-z0-9+/]+=*$/;
const COMMIT = /^[0-9a-f]{40}$/;
const GITHUB = /^https:\/\/github\.com\/([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+?)(\.git)?\/?$/;
const NIX_PATH_NAME = /^[A-Za-z_][A-Za-z0-9_.+-]*$/;

const TOP_KEYS = ["nixpkgs", "packages", "store", "remote", "bzlmod"] as const;
const PACKAGE_KEYS = [
  "attributePath",
  "buildFile",
  "buildFileContent",
  "escapingSymlinks",
  "packedClosure",
  "failNotSupported",
  "nixFile",
  "nixFileContent",
  "nixFileDeps",
  "nixopts",
  "quiet",
  "repositories",
] as const;
const LOCAL_KEYS = ["local", "nixFileContent", "nixFileDeps"] as const;
const HTTP_KEYS = ["url", "urls", "sha256", "integrity", "stripPrefix"] as const;
const GIT_KEYS = ["git", "revision", "sha256", "integrity"] as const;
const REMOTE_KEYS = [
  "strategy",
  "executor",
  "instanceName",
  "execProperties",
  "nixBuildExecProperties",
  "remotePath",
  "maxClosureMib",
] as const;
/** Keys of `remote` that only the remotable strategies take. */
const REMOTABLE_KEYS = ["nixBuildExecProperties", "remotePath", "maxClosureMib"] as const;
/** Keys of `remote` that earlier versions documented and never implemented: [message, hint]. */
const RETIRED_REMOTE_KEYS: Readonly<Record<string, readonly [string, string]>> = {
  sharedStore: [
    'remote: "sharedStore" (copying the closures this machine builds into a store, nix copy --to) is not implemented',
    'remove it: strategy "shared-store" builds each package on the Nix pool (nixBuildExecProperties) ' +
      "into the store its executors share",
  ],
};
/** Package keys that a shared-store package does not use: its repository holds only wrappers. */
const NOT_SHARED_STORE_KEYS = ["buildFile", "buildFileContent", "escapingSymlinks", "packedClosure"] as const;
const STRATEGIES = ["launcher", "remotable", "shared-store"] as const;
type Strategy = (typeof STRATEGIES)[number];
const STORES = ["output-base", "system"] as const;
const ESCAPING_SYMLINKS = ["drop", "fail"] as const;

/** Reads typed values out of literals, recording what does not fit. */
class Reader {
  readonly diagnostics: Diagnostic[] = [];

  constructor(readonly file: string) {}

  error(position: Position, message: string, hint?: string): void {
    this.diagnostics.push({ file: this.file, position, message, ...(hint ? { hint } : {}) });
  }

  private wrongType(lit: Literal, what: string, expected: string): void {
    if (lit.kind === "opaque") return; // reported as not a literal already
    const got = lit.kind === "object" ? "an object" : lit.kind === "array" ? "an array" : `a ${lit.kind}`;
    this.error(lit.pos, `${what} must be ${expected}, not ${got}`);
  }

  /**
   * The properties of an object, keyed by name; unknown and repeated keys are errors. Returns
   * null (after an error) when `lit` is not an object.
   */
  object(lit: Literal, what: string, allowed: readonly string[]): Map<string, Property> | null {
    if (lit.kind !== "object") {
      this.wrongType(lit, what, "an object");
      return null;
    }
    const props = new Map<string, Property>();
    for (const prop of lit.props) {
      if (!allowed.includes(prop.key)) {
        const guess = closest(prop.key, allowed);
        this.error(
          prop.keyPos,
          `${what}: unknown key "${prop.key}"`,
          (guess ? `did you mean "${guess}"? ` : "") + `known keys: ${allowed.join(", ")}`,
        );
      } else if (props.has(prop.key)) {
        this.error(prop.keyPos, `${what}: "${prop.key}" is given twice`, "keep one of them");
      } else {
        props.set(prop.key, prop);
      }
    }
    return props;
  }

  /** The entries of a record (an object with names chosen by the user). */
  record(lit: Literal, what: string): Property[] {
    if (lit.kind !== "object") {
      this.wrongType(lit, what, "an object");
      return [];
    }
    const seen = new Set<string>();
    return lit.props.filter((prop) => {
      if (seen.has(prop.key)) {
        this.error(prop.keyPos, `${what}: "${prop.key}" is given twice`, "keep one of them");
        return false;
      }
      seen.add(prop.key);
      return true;
    });
  }

  string(prop: Property | undefined, what: string): string | null {
    if (prop === undefined) return null;
    if (prop.value.kind !== "string") {
      this.wrongType(prop.value, `${what}: "${prop.key}"`, "a string");
      return null;
    }
    return prop.value.value;
  }

  /** A non-empty string. */
  text(prop: Property | undefined, what: string): string | null {
    const value = this.string(prop, what);
    if (value !== null && value.trim() === "") {
      this.error((prop as Property).value.pos, `${what}: "${(prop as Property).key}" is empty`);
      return null;
    }
    return value;
  }

  boolean(prop: Property | undefined, what: string): boolean | null {
    if (prop === undefined) return null;
    if (prop.value.kind !== "boolean") {
      this.wrongType(prop.value, `${what}: "${prop.key}"`, "true or false");
      return null;
    }
    return prop.value.value;
  }

  oneOf<T extends string>(prop: Property | undefined, what: string, values: readonly T[]): T | null {
    const value = this.string(prop, what);
    if (value === null) return null;
    if (!(values as readonly string[]).includes(value)) {
      const guess = closest(value, values);
      this.error(
        (prop as Property).value.pos,
        `${what}: "${(prop as Property).key}" is "${value}"`,
        (guess ? `did you mean "${guess}"? ` : "") +
          `use one of ${values.map((v) => `"${v}"`).join(", ")}`,
      );
      return null;
    }
    return value as T;
  }

  strings(prop: Property | undefined, what: string): string[] {
    if (prop === undefined) return [];
    if (prop.value.kind !== "array") {
      this.wrongType(prop.value, `${what}: "${prop.key}"`, "an array of strings");
      return [];
    }
    const out: string[] = [];
    for (const item of prop.value.items) {
      if (item.kind === "string") out.push(item.value);
      else this.wrongType(item, `${what}: each item of "${prop.key}"`, "a string");
    }
    return out;
  }

  stringRecord(prop: Property | undefined, what: string): Array<[Property, string]> {
    if (prop === undefined) return [];
    const out: Array<[Property, string]> = [];
    for (const entry of this.record(prop.value, `${what}: "${prop.key}"`)) {
      if (entry.value.kind === "string") out.push([entry, entry.value.value]);
      else this.wrongType(entry.value, `${what}: "${prop.key}.${entry.key}"`, "a string");
    }
    return out;
  }

  label(prop: Property | undefined, what: string): string | null {
    const value = this.text(prop, what);
    if (value !== null && !LABEL.test(value)) {
      this.error(
        (prop as Property).value.pos,
        `${what}: "${(prop as Property).key}" is "${value}", not an absolute Bazel label`,
        `write a label such as "${labelGuess(value)}" (the file's package and name, from the workspace root)`,
      );
      return null;
    }
    return value;
  }

  labels(prop: Property | undefined, what: string): string[] {
    const values = this.strings(prop, what);
    if (prop === undefined || prop.value.kind !== "array") return values;
    const items = prop.value.items;
    return values.filter((value, i) => {
      if (LABEL.test(value)) return true;
      this.error(
        (items[i] as Literal).pos,
        `${what}: "${value}" in "${prop.key}" is not an absolute Bazel label`,
        `write a label such as "${labelGuess(value)}"`,
      );
      return false;
    });
  }

  /** Reports that at most one of `keys` may be set; returns whether that holds. */
  exclusive(props: Map<string, Property>, what: string, keys: readonly string[]): boolean {
    const given = keys.filter((k) => props.has(k));
    if (given.length <= 1) return true;
    const second = props.get(given[1] as string) as Property;
    this.error(
      second.keyPos,
      `${what}: "${given[0]}" and "${given[1]}" cannot both be set`,
      `keep one of ${keys.map((k) => `"${k}"`).join(", ")}`,
    );
    return false;
  }
}

/** `nix/nixpkgs.nix` → `//nix:nixpkgs.nix`, for hints. */
function labelGuess(value: string): string {
  const clean = value.replace(/^\.?\//, "");
  const slash = clean.lastIndexOf("/");
  return slash < 0 ? `//:${clean}` : `//${clean.slice(0, slash)}:${clean.slice(slash + 1)}`;
}

function checkRepoName(r: Reader, prop: Property, what: string): boolean {
  if (REPO_NAME.test(prop.key)) return true;
  r.error(
    prop.keyPos,
    `${what} name "${prop.key}" is not a valid Bazel repository name`,
    "start with a letter and use letters, digits, _, - and . only (it becomes @" +
      `${prop.key.replace(/[^A-Za-z0-9_.-]/g, "_")})`,
  );
  return false;
}

function readHash(r: Reader, props: Map<string, Property>, what: string) {
  r.exclusive(props, what, ["sha256", "integrity"]);
  const sha256 = r.text(props.get("sha256"), what);
  if (sha256 !== null && !SHA256_HEX.test(sha256)) {
    r.error(
      (props.get("sha256") as Property).value.pos,
      `${what}: "sha256" must be 64 lowercase hex digits`,
      'for an SRI checksum ("sha256-...") use "integrity"',
    );
  }
  const integrity = r.text(props.get("integrity"), what);
  if (integrity !== null && !SRI.test(integrity)) {
    r.error(
      (props.get("integrity") as Property).value.pos,
      `${what}: "integrity" must be a Subresource Integrity checksum ("sha256-<base64>")`,
      'for hex digits use "sha256"',
    );
  }
  return { sha256, integrity };
}

function readSource(r: Reader, prop: Property): ResolvedSource | null {
  const name = prop.key;
  const what = `nixpkgs source "${name}"`;
  const v = prop.value;
  const has = (key: string) => v.kind === "object" && v.props.some((p) => p.key === key);
  if (v.kind === "object" && has("git")) {
    const props = r.object(v, what, GIT_KEYS);
    if (props === null) return null;
    const git = r.text(props.get("git"), what);
    const revision = r.text(props.get("revision"), what);
    const { sha256, integrity } = readHash(r, props, what);
    if (!props.has("revision")) {
      r.error(props.get("git")!.keyPos, `${what}: "git" needs a "revision"`, "pin a full 40-hex commit");
    }
    if (revision !== null && !COMMIT.test(revision)) {
      r.error(
        props.get("revision")!.value.pos,
        `${what}: "revision" is "${revision}", not a full commit hash`,
        "branch and tag names move; pin the 40-hex commit they point to now",
      );
    }
    const github = git === null ? null : GITHUB.exec(git);
    if (git !== null && github === null) {
      r.error(
        props.get("git")!.value.pos,
        `${what}: "git" is "${git}"; only https://github.com/<owner>/<repo> repositories are supported`,
        "for another host, use { url, sha256, stripPrefix } with that host's archive of the commit",
      );
    }
    if (git === null || github === null || revision === null) return null;
    const [, owner, repo] = github as unknown as [string, string, string];
    return {
      kind: "http",
      name,
      url: `https://github.com/${owner}/${repo}/archive/${revision}.tar.gz`,
      urls: null,
      sha256,
      integrity,
      stripPrefix: `${repo}-${revision}`,
      git: { repository: `https://github.com/${owner}/${repo}`, revision },
    };
  }
  if (v.kind === "object" && (has("url") || has("urls"))) {
    const props = r.object(v, what, HTTP_KEYS);
    if (props === null) return null;
    r.exclusive(props, what, ["url", "urls"]);
    const url = props.has("urls") ? null : r.text(props.get("url"), what);
    const urls = props.has("urls") ? r.strings(props.get("urls"), what) : null;
    if (urls !== null && urls.length === 0) {
      r.error(props.get("urls")!.value.pos, `${what}: "urls" is empty`, "list at least one URL");
    }
    const { sha256, integrity } = readHash(r, props, what);
    const stripPrefix = r.string(props.get("stripPrefix"), what);
    return { kind: "http", name, url, urls, sha256, integrity, stripPrefix, git: null };
  }
  if (v.kind === "object" && (has("local") || has("nixFileContent"))) {
    const props = r.object(v, what, LOCAL_KEYS);
    if (props === null) return null;
    r.exclusive(props, what, ["local", "nixFileContent"]);
    return {
      kind: "local",
      name,
      nixFile: props.has("nixFileContent") ? null : r.label(props.get("local"), what),
      nixFileContent: r.text(props.get("nixFileContent"), what),
      nixFileDeps: r.labels(props.get("nixFileDeps"), what),
    };
  }
  if (v.kind === "opaque") return null;
  if (v.kind !== "object") {
    r.error(v.pos, `${what} must be an object`, 'e.g. { local: "//nix:nixpkgs.nix" }');
  } else {
    r.error(
      v.pos,
      `${what} does not say where nixpkgs comes from`,
      'set one of "local" (a .nix label), "nixFileContent", "url"/"urls" (an archive) or ' +
        '"git" (a GitHub repository with "revision")',
    );
  }
  return null;
}

/**
 * What a remotable strategy asks of a package: no failNotSupported; with "shared-store", none
 * of the keys that shape a repository holding the closure (it holds only bin/<exe> wrappers).
 */
function checkRemotablePackage(r: Reader, prop: Property, props: Map<string, Property>, strategy: RemotableStrategy): void {
  if (props.has("failNotSupported")) {
    r.error(
      props.get("failNotSupported")!.keyPos,
      `package "${prop.key}": "failNotSupported" does not apply with remote strategy "${strategy}"`,
      "remove it: the package's Nix build runs where Bazel runs remotable repository rules",
    );
  }
  if (strategy !== "shared-store") return;
  for (const key of NOT_SHARED_STORE_KEYS) {
    if (!props.has(key)) continue;
    r.error(
      props.get(key)!.keyPos,
      `package "${prop.key}": "${key}" does not apply with remote strategy "shared-store"`,
      "remove it: the package's closure stays in the Nix pool's shared store, and its repository " +
        "holds only bin/<exe> wrappers that run the store paths (strategy \"remotable\" lays the closure out)",
    );
  }
}

function readPackage(
  r: Reader,
  prop: Property,
  sources: ReadonlyMap<string, Property>,
  remotable: RemotableStrategy | null,
): ResolvedPackage | null {
  const name = prop.key;
  const what = `package "${name}"`;
  const props = r.object(prop.value, what, PACKAGE_KEYS);
  if (props === null) return null;
  r.exclusive(props, what, ["nixFile", "nixFileContent"]);
  r.exclusive(props, what, ["buildFile", "buildFileContent"]);
  const nixFile = r.label(props.get("nixFile"), what);
  const nixFileContent = r.text(props.get("nixFileContent"), what);
  const nixFileDeps = r.labels(props.get("nixFileDeps"), what);
  const hasNixFile = props.has("nixFile") || props.has("nixFileContent");
  if (props.has("nixFileDeps") && !hasNixFile) {
    r.error(
      props.get("nixFileDeps")!.keyPos,
      `${what}: "nixFileDeps" without "nixFile" or "nixFileContent"`,
      "list the files the package's own Nix expression imports; a nixpkgs source's files go under that source's nixFileDeps",
    );
  }
  const attributePath = r.text(props.get("attributePath"), what);
  if (attributePath !== null && !/^[A-Za-z0-9_'-]+(\.[A-Za-z0-9_'-]+)*$/.test(attributePath)) {
    r.error(
      props.get("attributePath")!.value.pos,
      `${what}: "attributePath" is "${attributePath}", not a dotted Nix attribute path`,
      'e.g. "jq" or "python3Packages.numpy"',
    );
  }

  let repositories: Record<string, string> = {};
  if (props.has("repositories")) {
    for (const [entry, source] of r.stringRecord(props.get("repositories"), what)) {
      if (!NIX_PATH_NAME.test(entry.key)) {
        r.error(entry.keyPos, `${what}: "${entry.key}" is not a name Nix can look up as <${entry.key}>`);
      } else if (!sources.has(source)) {
        const guess = closest(source, [...sources.keys()]);
        r.error(
          entry.value.pos,
          `${what}: repositories.${entry.key} names the nixpkgs source "${source}", which the config does not define`,
          guess
            ? `did you mean "${guess}"?`
            : sources.size > 0
              ? `define it under nixpkgs, or use one of ${[...sources.keys()].map((s) => `"${s}"`).join(", ")}`
              : "define it under nixpkgs",
        );
      } else {
        repositories[entry.key] = source;
      }
    }
  } else {
    const names = [...sources.keys()];
    const fallback = sources.has("nixpkgs") ? "nixpkgs" : names.length === 1 ? names[0] : undefined;
    if (fallback !== undefined) {
      repositories = { nixpkgs: fallback };
    } else if (!hasNixFile) {
      r.error(
        prop.keyPos,
        `${what} has no nixpkgs to build from`,
        names.length === 0
          ? 'add a source under nixpkgs, e.g. nixpkgs: { nixpkgs: { git: "https://github.com/NixOS/nixpkgs", revision, sha256 } }'
          : `set repositories, e.g. { nixpkgs: "${names[0]}" }: the config defines ${names.length} sources and none is named "nixpkgs"`,
      );
    }
  }
  if (remotable !== null) checkRemotablePackage(r, prop, props, remotable);
  return {
    name,
    attributePath: attributePath ?? (hasNixFile ? null : name),
    nixFile,
    nixFileContent,
    nixFileDeps,
    buildFile: r.label(props.get("buildFile"), what),
    buildFileContent: r.string(props.get("buildFileContent"), what),
    nixopts: r.strings(props.get("nixopts"), what),
    repositories,
    quiet: r.boolean(props.get("quiet"), what),
    failNotSupported: r.boolean(props.get("failNotSupported"), what),
    escapingSymlinks: r.oneOf(props.get("escapingSymlinks"), what, ESCAPING_SYMLINKS),
    packedClosure: r.boolean(props.get("packedClosure"), what),
  };
}

/** A record of exec properties; `flag` says how they are written, for the message. */
function readExecProperties(
  r: Reader,
  prop: Property | undefined,
  flag: string,
  check: (key: string, value: string) => boolean,
  rule: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [entry, value] of r.stringRecord(prop, "remote")) {
    if (entry.key === "" || !check(entry.key, value)) {
      r.error(
        entry.keyPos,
        `remote: exec property "${entry.key}=${value}" cannot be written as ${flag}`,
        rule,
      );
    } else {
      out[entry.key] = value;
    }
  }
  return out;
}

/** The keys of the remotable strategies: the packages' remote build settings. */
function readRemotable(r: Reader, props: Map<string, Property>) {
  const what = "remote";
  const nixBuildExecProperties = readExecProperties(
    r,
    props.get("nixBuildExecProperties"),
    "the packages' exec_properties",
    (key) => !/[=\s]/.test(key),
    "names cannot be empty or contain = or white space",
  );
  const remotePath = r.text(props.get("remotePath"), what);
  if (remotePath !== null && !remotePath.split(":").every((dir) => dir.startsWith("/"))) {
    r.error(
      props.get("remotePath")!.value.pos,
      `remote: "remotePath" is "${remotePath}", not a PATH of absolute directories`,
      'separate the worker\'s directories with ":", e.g. "/nix/var/nix/profiles/default/bin:/usr/bin:/bin"',
    );
  }
  let maxClosureMib: number | null = null;
  const max = props.get("maxClosureMib");
  if (max !== undefined) {
    if (max.value.kind === "number" && Number.isSafeInteger(max.value.value) && max.value.value > 0) {
      maxClosureMib = max.value.value;
    } else if (max.value.kind !== "opaque") {
      r.error(max.value.pos, `remote: "maxClosureMib" must be a whole number of MiB above 0`, "e.g. maxClosureMib: 512");
    }
  }
  return { nixBuildExecProperties, remotePath, maxClosureMib };
}

/** Reports the retired keys of the `remote` block; returns the block without them. */
function withoutRetiredKeys(r: Reader, lit: Literal): Literal {
  if (lit.kind !== "object") return lit;
  for (const prop of lit.props) {
    const retired = RETIRED_REMOTE_KEYS[prop.key];
    if (retired !== undefined) r.error(prop.keyPos, retired[0], retired[1]);
  }
  return { ...lit, props: lit.props.filter((p) => RETIRED_REMOTE_KEYS[p.key] === undefined) };
}

/** Reports the strategy-specific keys that `strategy` does not take. */
function checkStrategyKeys(r: Reader, props: Map<string, Property>, strategy: Strategy | null): void {
  for (const key of REMOTABLE_KEYS) {
    if (props.has(key) && !isRemotableStrategy(strategy)) {
      r.error(
        props.get(key)!.keyPos,
        `remote: "${key}" applies only to strategies "remotable" and "shared-store"`,
        'remove it, or set strategy: "remotable" or "shared-store"',
      );
    }
  }
  if (strategy === "shared-store" && props.has("maxClosureMib")) {
    r.error(
      props.get("maxClosureMib")!.keyPos,
      `remote: "maxClosureMib" does not apply with strategy "shared-store"`,
      "remove it: the closures stay in the Nix pool's shared store, and no archive is sent back",
    );
  }
}

/**
 * The `remote` block; `strategy` is null when it is missing or unknown. With "shared-store" and
 * no `execProperties`, the consumers' actions get `nixBuildExecProperties`: they must run on
 * the pool whose store holds the closures.
 */
function readRemote(r: Reader, prop: Property): { remote: ResolvedRemote | null; strategy: Strategy | null } {
  const what = "remote";
  const props = r.object(withoutRetiredKeys(r, prop.value), what, REMOTE_KEYS);
  if (props === null) return { remote: null, strategy: null };
  if (!props.has("strategy")) {
    r.error(prop.keyPos, `remote needs a "strategy"`, 'use "launcher", "remotable" or "shared-store"');
  }
  const strategy = r.oneOf(props.get("strategy"), what, STRATEGIES);
  checkStrategyKeys(r, props, strategy);
  if (!props.has("executor")) {
    r.error(
      prop.keyPos,
      `remote needs an "executor"`,
      'e.g. executor: "grpc://buildbarn.example:8980" (passed as --remote_executor)',
    );
  }
  const executor = r.text(props.get("executor"), what);
  if (executor !== null && !/^(grpcs?|unix|https?):\/\/\S+$/.test(executor)) {
    r.error(
      props.get("executor")!.value.pos,
      `remote: "executor" is "${executor}", not a URL Bazel accepts`,
      'e.g. "grpc://host:8980" or "grpcs://host:443"',
    );
  }
  const instanceName = r.text(props.get("instanceName"), what);
  if (instanceName !== null && /\s/.test(instanceName)) {
    r.error(props.get("instanceName")!.value.pos, `remote: "instanceName" contains white space`);
  }
  const execProperties = readExecProperties(
    r,
    props.get("execProperties"),
    "--remote_default_exec_properties",
    (key, value) => !/[=\s]/.test(key) && !/\s/.test(value),
    "names cannot be empty or contain = or white space, values cannot contain white space",
  );
  const remotable = readRemotable(r, props);
  const consumers =
    strategy === "shared-store" && !props.has("execProperties")
      ? poolExecProperties(r, props.get("nixBuildExecProperties"), remotable.nixBuildExecProperties)
      : execProperties;
  if (executor === null || strategy === null) return { remote: null, strategy };
  const base = { executor, instanceName, execProperties: consumers };
  if (strategy === "launcher") return { remote: { strategy, ...base }, strategy };
  return { remote: { strategy, ...base, ...remotable }, strategy };
}

/**
 * The consumers' platform under "shared-store" without `execProperties`: the pool's (`prop`,
 * read as `pool`), as `--remote_default_exec_properties`, whose values cannot hold white space.
 */
function poolExecProperties(r: Reader, prop: Property | undefined, pool: Readonly<Record<string, string>>): Record<string, string> {
  for (const [key, value] of Object.entries(pool)) {
    if (!/\s/.test(value)) continue;
    r.error(
      prop!.keyPos,
      `remote: the consumers' actions of strategy "shared-store" run on the Nix pool, but its exec property ` +
        `"${key}=${value}" cannot be written as --remote_default_exec_properties`,
      "set execProperties to a platform without white space in its values that selects executors sharing the pool's store",
    );
  }
  return { ...pool };
}

/** Checks the config's literal tree; returns the resolved config and every problem found. */
export function resolveConfig(
  file: string,
  literal: ObjectLiteral,
): { config: ResolvedConfig; diagnostics: Diagnostic[] } {
  const r = new Reader(file);
  const top = r.object(literal, "the config", TOP_KEYS) ?? new Map<string, Property>();

  const sourceProps = new Map<string, Property>();
  const sources: ResolvedSource[] = [];
  if (top.has("nixpkgs")) {
    for (const prop of r.record(top.get("nixpkgs")!.value, "nixpkgs")) {
      if (!checkRepoName(r, prop, "nixpkgs source")) continue;
      sourceProps.set(prop.key, prop);
      const source = readSource(r, prop);
      if (source !== null) sources.push(source);
    }
  }

  // Read before the packages: the remotable strategies ask more of them.
  const { remote, strategy } = top.has("remote") ? readRemote(r, top.get("remote")!) : { remote: null, strategy: null };
  const remotable = isRemotableStrategy(strategy) ? strategy : null;

  const packages: ResolvedPackage[] = [];
  if (top.has("packages")) {
    for (const prop of r.record(top.get("packages")!.value, "packages")) {
      if (!checkRepoName(r, prop, "package")) continue;
      if (sourceProps.has(prop.key)) {
        r.error(
          prop.keyPos,
          `package "${prop.key}" has the name of a nixpkgs source; both would be the repository @${prop.key}`,
          "rename one of them (a package's attributePath can differ from its name)",
        );
        continue;
      }
      const pkg = readPackage(r, prop, sourceProps, remotable);
      if (pkg !== null) packages.push(pkg);
    }
  }

  const store = r.oneOf(top.get("store"), "the config", STORES) ?? "output-base";
  if (remotable !== null && top.has("store")) {
    r.error(
      top.get("store")!.keyPos,
      `the config: "store" does not apply with remote strategy "${remotable}"`,
      "remove it: each package builds in the Nix store of the machine that runs its remotable build " +
        "(the worker, or this machine's own store without an executor)",
    );
  }
  const bzlmod = r.boolean(top.get("bzlmod"), "the config") ?? false;
  return { config: { sources, packages, store, remote, bzlmod }, diagnostics: r.diagnostics };
}
