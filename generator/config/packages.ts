/** The `packages` block of nixgen.config.ts: each package, checked against the sources and the remote strategy. */
import type { Property } from "./literal.js";
import { noNixpkgsHint, readAttributePath, readNixExpression, readRepositories } from "./nix-inputs.js";
import { checkRepoName, type Reader } from "./reader.js";
import type { RemotableStrategy, ResolvedPackage } from "./resolved.js";

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
  r.exclusive(props, what, ["buildFile", "buildFileContent"]);
  const expression = readNixExpression(r, props, what);
  const attributePath = readAttributePath(r, props, what);
  const repositories = readRepositories(r, props, what, sources);
  // A package with its own Nix expression needs no nixpkgs.
  if (repositories === null && !expression.given) {
    r.error(prop.keyPos, `${what} has no nixpkgs to build from`, noNixpkgsHint(sources));
  }
  if (remotable !== null) checkRemotablePackage(r, prop, props, remotable);
  return {
    name,
    attributePath: attributePath ?? (expression.given ? null : name),
    nixFile: expression.nixFile,
    nixFileContent: expression.nixFileContent,
    nixFileDeps: expression.nixFileDeps,
    buildFile: r.label(props.get("buildFile"), what),
    buildFileContent: r.string(props.get("buildFileContent"), what),
    nixopts: r.strings(props.get("nixopts"), what),
    repositories: repositories ?? {},
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
