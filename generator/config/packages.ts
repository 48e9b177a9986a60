/** The `packages` block of nixgen.config.ts: each package, checked against the sources and the remote strategy. */
import { closest } from "./diagnostics.js";
import type { Property } from "./literal.js";
import { checkRepoName, type Reader } from "./reader.js";
import type { RemotableStrategy, ResolvedPackage } from "./resolved.js";

const NIX_PATH_NAME = /^[A-Za-z_][A-Za-z0-9_.+-]*$/;
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
/** Package keys that a shared-store package does not use: its repository holds only wrappers. */
const NOT_SHARED_STORE_KEYS = ["buildFile", "buildFileContent", "escapingSymlinks", "packedClosure"] as const;
const ESCAPING_SYMLINKS = ["drop", "fail"] as const;

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

/** The packages of the `packages` block (`prop`, if given); none may take the name of a source. */
export function readPackages(
  r: Reader,
  prop: Property | undefined,
  sources: ReadonlyMap<string, Property>,
  remotable: RemotableStrategy | null,
): ResolvedPackage[] {
  const packages: ResolvedPackage[] = [];
  if (prop === undefined) return packages;
  for (const pkg of r.record(prop.value, "packages")) {
    if (!checkRepoName(r, pkg, "package")) continue;
    if (sources.has(pkg.key)) {
      r.error(
        pkg.keyPos,
        `package "${pkg.key}" has the name of a nixpkgs source; both would be the repository @${pkg.key}`,
        "rename one of them (a package's attributePath can differ from its name)",
      );
      continue;
    }
    const resolved = readPackage(r, pkg, sources, remotable);
    if (resolved !== null) packages.push(resolved);
  }
  return packages;
}
