/**
 * What a Nix build of the config reads, for packages and the C/C++ toolchain alike: its
 * attribute, its own Nix expression (`nixFile`, `nixFileContent`, `nixFileDeps`) and the nixpkgs
 * sources on its search path (`repositories`, defaulting to the source named nixpkgs or the only
 * source).
 */
import { closest } from "./diagnostics.js";
import type { Property } from "./literal.js";
import type { Reader } from "./reader.js";

const NIX_PATH_NAME = /^[A-Za-z_][A-Za-z0-9_.+-]*$/;
const ATTRIBUTE_PATH = /^[A-Za-z0-9_'-]+(\.[A-Za-z0-9_'-]+)*$/;

/** `attributePath`, checked to be a dotted Nix attribute path; null when not given. */
export function readAttributePath(r: Reader, props: Map<string, Property>, what: string): string | null {
  const attributePath = r.text(props.get("attributePath"), what);
  if (attributePath !== null && !ATTRIBUTE_PATH.test(attributePath)) {
    r.error(
      props.get("attributePath")!.value.pos,
      `${what}: "attributePath" is "${attributePath}", not a dotted Nix attribute path`,
      'e.g. "jq" or "python3Packages.numpy"',
    );
  }
  return attributePath;
}

/** A build's own Nix expression: `nixFile` or `nixFileContent`, and the files it imports. */
export interface NixExpression {
  readonly nixFile: string | null;
  readonly nixFileContent: string | null;
  readonly nixFileDeps: readonly string[];
  /** Whether `nixFile` or `nixFileContent` is given. */
  readonly given: boolean;
}

/** `nixFile`, `nixFileContent` (not both) and `nixFileDeps` (only with one of them). */
export function readNixExpression(r: Reader, props: Map<string, Property>, what: string): NixExpression {
  r.exclusive(props, what, ["nixFile", "nixFileContent"]);
  const given = props.has("nixFile") || props.has("nixFileContent");
  if (props.has("nixFileDeps") && !given) {
    r.error(
      props.get("nixFileDeps")!.keyPos,
      `${what}: "nixFileDeps" without "nixFile" or "nixFileContent"`,
      "list the files its own Nix expression imports; a nixpkgs source's files go under that source's nixFileDeps",
    );
  }
  return {
    nixFile: r.label(props.get("nixFile"), what),
    nixFileContent: r.text(props.get("nixFileContent"), what),
    nixFileDeps: r.labels(props.get("nixFileDeps"), what),
    given,
  };
}

/**
 * `repositories` (Nix search path name → source name), each entry checked against the sources;
 * when not given, `{ nixpkgs: <source> }` for the source named nixpkgs, or the only source. Null
 * when it is not given and there is no such source (the caller decides whether that is an error:
 * `noNixpkgsHint` says what to do).
 */
export function readRepositories(
  r: Reader,
  props: Map<string, Property>,
  what: string,
  sources: ReadonlyMap<string, Property>,
): Record<string, string> | null {
  if (!props.has("repositories")) {
    const names = [...sources.keys()];
    const fallback = sources.has("nixpkgs") ? "nixpkgs" : names.length === 1 ? names[0] : undefined;
    return fallback === undefined ? null : { nixpkgs: fallback };
  }
  const repositories: Record<string, string> = {};
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
  return repositories;
}

/** What to do when a build has no nixpkgs: add a source, or pick one of several. */
export function noNixpkgsHint(sources: ReadonlyMap<string, Property>): string {
  const names = [...sources.keys()];
  return names.length === 0
    ? 'add a source under nixpkgs, e.g. nixpkgs: { nixpkgs: { git: "https://github.com/NixOS/nixpkgs", revision, sha256 } }'
    : `set repositories, e.g. { nixpkgs: "${names[0]}" }: the config defines ${names.length} sources and none is named "nixpkgs"`;
}
