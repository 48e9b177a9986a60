// A release of rules_nixstore as users get it: the source archive scripts/release.sh makes from
// a clone of HEAD, a local file registry holding it exactly as the Bazel Central Registry would,
// and Bazel 7.7.1 (scripts/bazel7, Nix 2.34 in the sid root) in consumer workspaces that resolve
// `bazel_dep(name = "rules_nixstore", version = ...)` from that registry with no override.
// Used by registry.test.ts and npm-package.test.ts, with the harness's run, explain and fixture.
import { execa, type Result } from "execa";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { pathToFileURL } from "node:url";
import { BAZEL7, REPO_ROOT, run } from "./harness.js";

export { EXPECT_OUTPUT_SH, FIXTURE, OFFLINE_NIXOPTS, REPO_ROOT, copyFixture, explain, run } from "./harness.js";

/** The version in package.json at `dir` (the release's version). */
export function versionAt(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
}

/** A clone of this repository's HEAD: committed work only, whatever the checkout holds. */
export async function cloneHead(dir: string): Promise<string> {
  await run("git", ["clone", "--quiet", "--no-hardlinks", REPO_ROOT, dir]);
  return dir;
}

export interface Release {
  readonly version: string;
  /** Absolute path of rules_nixstore-<version>.tar.gz. */
  readonly archive: string;
  /** sha256-<base64>, as printed by the release script. */
  readonly integrity: string;
  readonly stripPrefix: string;
}

/** Runs `scripts/release.sh VERSION OUT_DIR` in `checkout` and reads what it printed. */
export async function release(checkout: string, version: string, outDir: string, env: Record<string, string> = {}): Promise<Release> {
  const r = await run("bash", [join(checkout, "scripts/release.sh"), version, outDir], { cwd: checkout, env });
  const field = (name: string) => {
    const m = new RegExp(`^${name}: (.+)$`, "m").exec(String(r.stdout));
    if (!m) throw new Error(`release.sh printed no "${name}:" line:\n${r.stdout}`);
    return m[1]!;
  };
  return { version, archive: field("archive"), integrity: field("integrity"), stripPrefix: field("strip_prefix") };
}

/** Unpacks `archive` into `dir` (created) and returns `dir`. */
export async function unpack(archive: string, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  await run("tar", ["-xzf", archive, "-C", dir]);
  return dir;
}

/** The BCR's placeholders, as publish-to-BCR fills them for a GitHub release tag v<version>. */
function fillTemplate(text: string, version: string): string {
  return text
    .replaceAll("{OWNER}", "OWNER")
    .replaceAll("{REPO}", "rules_nixstore")
    .replaceAll("{VERSION}", version)
    .replaceAll("{TAG}", `v${version}`);
}

/**
 * Lays out a file registry at `dir` as the Bazel Central Registry holds a release:
 * bazel_registry.json, modules/rules_nixstore/metadata.json (from .bcr/metadata.template.json
 * with this version), and modules/rules_nixstore/<version>/ with the archive's own MODULE.bazel,
 * source.json (from .bcr/source.template.json: the release's integrity and strip_prefix, the
 * url pointing at the local archive instead of the GitHub release) and .bcr/presubmit.yml.
 * `checkout` is the tree the release was made from; its .bcr/ templates are used.
 */
export async function makeRegistry(dir: string, checkout: string, rel: Release, unpacked: string): Promise<string> {
  const bcr = join(checkout, ".bcr");
  const versionDir = join(dir, "modules/rules_nixstore", rel.version);
  mkdirSync(versionDir, { recursive: true });
  writeFileSync(join(dir, "bazel_registry.json"), JSON.stringify({ mirrors: [] }, null, 2) + "\n");

  const metadata = JSON.parse(readFileSync(join(bcr, "metadata.template.json"), "utf8")) as { versions: string[] };
  metadata.versions = [rel.version];
  writeFileSync(join(dir, "modules/rules_nixstore/metadata.json"), JSON.stringify(metadata, null, 2) + "\n");

  cpSync(join(unpacked, rel.stripPrefix, "MODULE.bazel"), join(versionDir, "MODULE.bazel"));
  const source = JSON.parse(fillTemplate(readFileSync(join(bcr, "source.template.json"), "utf8"), rel.version)) as {
    integrity: string;
    strip_prefix: string;
    url: string;
  };
  // The template must describe what release.sh makes, or the published entry would not fetch.
  if (source.strip_prefix !== rel.stripPrefix || basename(new URL(source.url).pathname) !== basename(rel.archive)) {
    throw new Error(
      `.bcr/source.template.json (strip_prefix ${source.strip_prefix}, url ${source.url}) does not match ` +
        `release.sh's archive ${basename(rel.archive)} with top directory ${rel.stripPrefix}`,
    );
  }
  source.integrity = rel.integrity;
  source.url = pathToFileURL(rel.archive).href;
  writeFileSync(join(versionDir, "source.json"), JSON.stringify(source, null, 2) + "\n");
  cpSync(join(bcr, "presubmit.yml"), join(versionDir, "presubmit.yml"));
  return dir;
}

/** Bazel 7.7.1 in `cwd` with a private output base; never rejects (check exitCode). */
export async function bazel7(cwd: string, outputBase: string, args: readonly string[]): Promise<Result> {
  return (await execa(BAZEL7.bazel, [`--output_base=${outputBase}`, "--max_idle_secs=300", ...args], {
    cwd,
    reject: false,
    stdin: "ignore",
  })) as Result;
}

/**
 * BUILD.bazel of a consumer: a genrule whose tools are @hello and @greet, and an sh_test that
 * runs @greet from its data.
 */
export const CONSUMER_BUILD = `genrule(
    name = "out",
    outs = ["out.txt"],
    cmd = "($(location @hello//:bin/hello); $(location @greet//:bin/greet) genrule) > $@",
    tools = [
        "@greet//:bin/greet",
        "@hello//:bin/hello",
    ],
)

# buildifier: disable=native-sh-test
sh_test(
    name = "greet_test",
    srcs = ["expect_output.sh"],
    args = [
        "'greet from nix a b'",
        "$(rootpath @greet//:bin/greet)",
        "a",
        "b",
    ],
    data = ["@greet//:bin/greet"],
)
`;

/** What the consumer's genrule writes. */
export const CONSUMER_OUT = "hello from nix\ngreet from nix genrule\n";

/** Removes a temp tree that Bazel and Nix left read-only in places. */
export async function removeTree(dir: string): Promise<void> {
  await execa("chmod", ["-R", "u+w", dir], { reject: false });
  await execa("rm", ["-rf", dir], { reject: false });
}
