/** The `nixpkgs` block of nixgen.config.ts: each source, resolved to the repository rule that provides it. */
import type { Property } from "./literal.js";
import { checkRepoName, type Reader } from "./reader.js";
import type { ResolvedSource } from "./resolved.js";

const SHA256_HEX = /^[0-9a-f]{64}$/;
const SRI = /^sha(256|384|512)-[A-Za-z0-9+/]+=*$/;
const COMMIT = /^[0-9a-f]{40}$/;
const GITHUB = /^https:\/\/github\.com\/([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+?)(\.git)?\/?$/;

const LOCAL_KEYS = ["local", "nixFileContent", "nixFileDeps"] as const;
const HTTP_KEYS = ["url", "urls", "sha256", "integrity", "stripPrefix"] as const;
const GIT_KEYS = ["git", "revision", "sha256", "integrity"] as const;

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

/** The sources of the `nixpkgs` block (`prop`, if given): resolved, and their properties by name. */
export function readSources(
  r: Reader,
  prop: Property | undefined,
): { sources: ResolvedSource[]; props: Map<string, Property> } {
  const props = new Map<string, Property>();
  const sources: ResolvedSource[] = [];
  if (prop === undefined) return { sources, props };
  for (const source of r.record(prop.value, "nixpkgs")) {
    if (!checkRepoName(r, source, "nixpkgs source")) continue;
    props.set(source.key, source);
    const resolved = readSource(r, source);
    if (resolved !== null) sources.push(resolved);
  }
  return { sources, props };
}
