/**
 * The `ccToolchain` block of nixgen.config.ts: a C/C++ toolchain from Nix (`nixpkgs_cc_configure`),
 * checked against the sources, the packages (its two repositories share their namespace) and
 * the remote strategy.
 */
import { CC_TOOLCHAIN_NAMES } from "../model/index.js";
import type { Position } from "./diagnostics.js";
import type { Property } from "./literal.js";
import { noNixpkgsHint, readAttributePath, readNixExpression, readRepositories } from "./nix-inputs.js";
import { isRepoName, repoNameHint, type Reader } from "./reader.js";
import type { RemotableStrategy, ResolvedCcToolchain } from "./resolved.js";

const WHAT = "ccToolchain";
const CC_TOOLCHAIN_KEYS = [
  "name",
  "attributePath",
  "nixFile",
  "nixFileContent",
  "nixFileDeps",
  "repositories",
  "nixopts",
  "quiet",
  "failNotSupported",
  "ccLang",
  "ccStd",
  "execConstraints",
  "targetConstraints",
  "packedClosure",
] as const;
/** A compiler flag's value (`-x <ccLang>`, `-std=<ccStd>`): one word. */
const FLAG_VALUE = /^[A-Za-z0-9+_.-]+$/;

/** The toolchain's `name`, checked to be a repository name; the default when not given. */
function readName(r: Reader, props: Map<string, Property>): string | null {
  const name = r.text(props.get("name"), WHAT);
  if (name === null) return props.has("name") ? null : CC_TOOLCHAIN_NAMES.defaultName;
  if (!isRepoName(name)) {
    r.error(props.get("name")!.value.pos, `${WHAT}: "name" is "${name}", not a valid Bazel repository name`, repoNameHint(name));
    return null;
  }
  return name;
}

/** Reports a source or package whose repository is one of the toolchain's two. */
function checkClashes(
  r: Reader,
  name: string,
  at: Position,
  sources: ReadonlyMap<string, Property>,
  packageNames: ReadonlySet<string>,
): void {
  for (const repo of [name, `${name}${CC_TOOLCHAIN_NAMES.toolchainsSuffix}`]) {
    const other = sources.has(repo) ? "nixpkgs source" : packageNames.has(repo) ? "package" : null;
    if (other === null) continue;
    r.error(
      at,
      `${WHAT} makes the repository @${repo}, and so does ${other} "${repo}"`,
      `rename one of them: the toolchain's "name" (default "${CC_TOOLCHAIN_NAMES.defaultName}") makes ` +
        `@<name> and @<name>${CC_TOOLCHAIN_NAMES.toolchainsSuffix}`,
    );
  }
}

/**
 * The toolchain's `repositories`, which must give it `<nixpkgs>`: its description of the
 * compiler is a `runCommand` of that nixpkgs, even when `nixFile` selects the compiler.
 */
function readToolchainRepositories(
  r: Reader,
  prop: Property,
  props: Map<string, Property>,
  sources: ReadonlyMap<string, Property>,
): Record<string, string> {
  const repositories = readRepositories(r, props, WHAT, sources);
  if (repositories === null) {
    r.error(prop.keyPos, `${WHAT} has no nixpkgs to build from`, noNixpkgsHint(sources));
    return {};
  }
  const given = props.get("repositories")?.value;
  if (given?.kind === "object" && !given.props.some((p) => p.key === "nixpkgs")) {
    r.error(
      props.get("repositories")!.keyPos,
      `${WHAT}: "repositories" has no "nixpkgs" entry`,
      'add one, e.g. nixpkgs: "<source>": the toolchain\'s description of the compiler is built with <nixpkgs>, ' +
        "also when nixFile or nixFileContent selects the compiler",
    );
  }
  return repositories;
}

/** `ccLang` or `ccStd`: one word, passed to the compiler. */
function readFlagValue(r: Reader, props: Map<string, Property>, key: "ccLang" | "ccStd", example: string): string | null {
  const value = r.text(props.get(key), WHAT);
  if (value !== null && !FLAG_VALUE.test(value)) {
    r.error(props.get(key)!.value.pos, `${WHAT}: "${key}" is "${value}", not a single compiler word`, `e.g. ${example}`);
    return null;
  }
  return value;
}

/**
 * The `ccToolchain` block (`prop`). `packageNames` are the config's packages: the toolchain's
 * repositories must not take their names. The remotable strategies refuse it: this machine's
 * Nix builds the toolchain.
 */
export function readCcToolchain(
  r: Reader,
  prop: Property,
  sources: ReadonlyMap<string, Property>,
  packageNames: ReadonlySet<string>,
  remotable: RemotableStrategy | null,
): ResolvedCcToolchain | null {
  const props = r.object(prop.value, WHAT, CC_TOOLCHAIN_KEYS);
  if (props === null) return null;
  if (remotable !== null) {
    r.error(
      prop.keyPos,
      `${WHAT} does not apply with remote strategy "${remotable}"`,
      "the toolchain is built by this machine's Nix when Bazel fetches it (nixpkgs_cc_configure has no remotable " +
        'form), which this strategy means to do without; remove ccToolchain, or use strategy "launcher", whose ' +
        "workers run the compiler through launchers that carry its closure",
    );
  }
  const name = readName(r, props);
  if (name !== null) checkClashes(r, name, props.get("name")?.value.pos ?? prop.keyPos, sources, packageNames);
  const expression = readNixExpression(r, props, WHAT);
  return {
    name: name ?? CC_TOOLCHAIN_NAMES.defaultName,
    attributePath: readAttributePath(r, props, WHAT),
    nixFile: expression.nixFile,
    nixFileContent: expression.nixFileContent,
    nixFileDeps: expression.nixFileDeps,
    repositories: readToolchainRepositories(r, prop, props, sources),
    nixopts: r.strings(props.get("nixopts"), WHAT),
    quiet: r.boolean(props.get("quiet"), WHAT),
    failNotSupported: r.boolean(props.get("failNotSupported"), WHAT),
    ccLang: readFlagValue(r, props, "ccLang", '"c++" or "objective-c++"'),
    ccStd: readFlagValue(r, props, "ccStd", '"c++17" or "gnu++20"'),
    execConstraints: r.labels(props.get("execConstraints"), WHAT),
    targetConstraints: r.labels(props.get("targetConstraints"), WHAT),
    packedClosure: r.boolean(props.get("packedClosure"), WHAT),
  };
}
