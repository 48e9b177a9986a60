// A release of rules_nixstore as the Bazel Central Registry would serve it: scripts/release.sh
// makes the source archive from a clone of HEAD, a local file registry holds it in the BCR's
// layout (source.json and metadata.json from .bcr/), and a consumer with
// `bazel_dep(name = "rules_nixstore", version = ...)` and no override builds and tests with
// Bazel 7.7.1 and Nix 2.34. Also: the archive's e2e/smoke, the BCR test module of
// .bcr/presubmit.yml, passes here (the BCR's own CI has no Nix), and the release script's
// refusals and determinism.
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  CONSUMER_BUILD,
  CONSUMER_OUT,
  EXPECT_OUTPUT_SH,
  OFFLINE_NIXOPTS,
  bazel7,
  cloneHead,
  copyFixture,
  explain,
  makeRegistry,
  release,
  removeTree,
  run,
  unpack,
  versionAt,
  type Release,
} from "./release-support.js";
import { BAZEL7, FLAVORS } from "./harness.js";

let tmp: string;
let clone: string;
let rel: Release;
let unpacked: string;
let registry: string;
/** Workspaces whose Bazel server (output base) afterAll shuts down. */
const servers: { cwd: string; outputBase: string }[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "nixstore-registry-"));
  clone = await cloneHead(join(tmp, "clone"));
  rel = await release(clone, versionAt(clone), join(tmp, "release"));
  unpacked = await unpack(rel.archive, join(tmp, "unpacked"));
  registry = await makeRegistry(join(tmp, "registry"), clone, rel, unpacked);
});

afterAll(async () => {
  for (const s of servers) await bazel7(s.cwd, s.outputBase, ["shutdown"]);
  if (tmp) await removeTree(tmp);
});

const list = (items: string[]) => `[${items.map((i) => JSON.stringify(i)).join(", ")}]`;

describe("scripts/release.sh", () => {
  test("makes rules_nixstore-<version>.tar.gz of what a module consumer needs, with its integrity", async () => {
    expect(rel.archive).toBe(join(tmp, "release", `rules_nixstore-${rel.version}.tar.gz`));
    expect(rel.stripPrefix).toBe(`rules_nixstore-${rel.version}`);
    const digest = createHash("sha256").update(readFileSync(rel.archive)).digest("base64");
    expect(rel.integrity).toBe(`sha256-${digest}`);

    const listed = String((await run("tar", ["-tzf", rel.archive])).stdout).split("\n").filter(Boolean);
    expect(listed.every((p) => p.startsWith(`${rel.stripPrefix}/`)), listed.join("\n")).toBe(true);
    const files = listed.map((p) => p.slice(rel.stripPrefix.length + 1));
    for (const needed of ["MODULE.bazel", "README.md", "rules/defs.bzl", "rules/extensions.bzl", "rules/private/package.bzl", "rules/private/nixstore_enter.c", "rules/private/enter/pins.bzl", "rules/private/enter/x86_64-linux/enter", "rules/private/enter/aarch64-linux/enter", "e2e/smoke/MODULE.bazel"]) {
      expect(files, needed).toContain(needed);
    }
    for (const left of ["test/", "generator/", "templates/", "node_modules/", "dist/", "bench/", "examples/", "package.json", ".bcr/"]) {
      expect(files.filter((f) => f.startsWith(left)), left).toEqual([]);
    }
  });

  test("gives the same bytes for the same commit (another clone, time and git config)", async () => {
    await new Promise((r) => setTimeout(r, 1100)); // a later second: mtimes must not come from the clock
    const other = await cloneHead(join(tmp, "clone-again"));
    // A user's git config that would change the bytes: other modes, CRLF line ends.
    const home = join(tmp, "home");
    mkdirSync(home);
    writeFileSync(join(home, ".gitconfig"), "[tar]\n\tumask = 0077\n[core]\n\tautocrlf = true\n\teol = crlf\n");
    const again = await release(other, rel.version, join(tmp, "release-again"), { HOME: home, XDG_CONFIG_HOME: home });
    expect(again.integrity).toBe(rel.integrity);
    expect(readFileSync(again.archive).equals(readFileSync(rel.archive))).toBe(true);
  });

  test("refuses a version other than package.json's and MODULE.bazel's, naming both", async () => {
    const r = await execa("bash", [join(clone, "scripts/release.sh"), "99.0.0", join(tmp, "refused")], { cwd: clone, reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(
      `release.sh: version 99.0.0 does not match the commit: package.json has ${rel.version}, MODULE.bazel has ${rel.version}. ` +
        `Set package.json's "version" to 99.0.0, run 'npm run generate' (it renders MODULE.bazel from it), commit both, and run again.`,
    );

    // MODULE.bazel out of step with package.json: no version is releasable.
    const skewed = await cloneHead(join(tmp, "clone-skewed"));
    const module = readFileSync(join(skewed, "MODULE.bazel"), "utf8");
    writeFileSync(join(skewed, "MODULE.bazel"), module.replace(`version = "${rel.version}"`, `version = "0.0.1"`));
    await run("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "skew"], { cwd: skewed });
    const s = await execa("bash", ["scripts/release.sh", rel.version], { cwd: skewed, reject: false });
    expect(s.exitCode).toBe(1);
    expect(s.stderr).toContain(`package.json has ${rel.version}, MODULE.bazel has 0.0.1`);
  });

  test("refuses uncommitted changes, listing them", async () => {
    const dirty = await cloneHead(join(tmp, "clone-dirty"));
    writeFileSync(join(dirty, "rules/defs.bzl"), readFileSync(join(dirty, "rules/defs.bzl"), "utf8") + "# local edit\n");
    const r = await execa("bash", ["scripts/release.sh", rel.version, join(tmp, "refused")], { cwd: dirty, reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(" M rules/defs.bzl");
    expect(r.stderr).toContain("release.sh: the tree has uncommitted changes (above): commit or set them aside");
  });
});

describe.runIf(FLAVORS.includes(BAZEL7))("the release through a file registry in the BCR's layout (Bazel 7.7.1, Nix 2.34)", () => {
  test("bazel_dep(rules_nixstore) with no override: a genrule and an sh_test run Nix executables", async () => {
    const ws = join(tmp, "consumer");
    const outputBase = join(tmp, "ob-consumer");
    mkdirSync(ws, { recursive: true });
    const deps = copyFixture(ws);
    const module = [
      `module(name = "consumer")`,
      ``,
      `bazel_dep(name = "rules_nixstore", version = ${JSON.stringify(rel.version)})`,
      ``,
      `nixstore = use_extension("@rules_nixstore//rules:extensions.bzl", "nixstore")`,
      `nixstore.local_repository(name = "nixpkgs", nix_file = "//nixpkgs:default.nix", nix_file_deps = ${list(deps)})`,
      ...["hello", "greet"].map((p) => `nixstore.package(name = "${p}", repository = "nixpkgs", nixopts = ${list(OFFLINE_NIXOPTS)})`),
      `use_repo(nixstore, "greet", "hello")`,
      ``,
    ].join("\n");
    expect(module).not.toMatch(/override/);
    writeFileSync(join(ws, "MODULE.bazel"), module);
    writeFileSync(join(ws, "BUILD.bazel"), CONSUMER_BUILD);
    writeFileSync(join(ws, "expect_output.sh"), EXPECT_OUTPUT_SH, { mode: 0o755 });
    servers.push({ cwd: ws, outputBase });
    const registryFlag = `--registry=${pathToFileURL(registry).href}`;

    const tested = await bazel7(ws, outputBase, ["test", registryFlag, "--test_output=errors", "//..."]);
    expect(tested.exitCode, explain(tested, ws)).toBe(0);
    expect(tested.stdout).toMatch(/\/\/:greet_test\s+PASSED/);
    expect(readFileSync(join(ws, "bazel-bin/out.txt"), "utf8")).toBe(CONSUMER_OUT);

    // rules_nixstore is the registry's archive: fetched from its file URL, checked against the
    // integrity release.sh printed.
    const shown = await bazel7(ws, outputBase, ["mod", registryFlag, "show_repo", "@rules_nixstore"]);
    expect(shown.exitCode, explain(shown, ws)).toBe(0);
    // (Bazel prints the URL file:///tmp/x as file:/tmp/x.)
    expect(shown.stdout).toContain(`urls = ["file:${rel.archive}"]`);
    expect(shown.stdout).toContain(rel.integrity);
    expect(shown.stdout).toContain(`strip_prefix = "${rel.stripPrefix}"`);
  });

  test("the archive's e2e/smoke (the BCR test module of .bcr/presubmit.yml) passes", async () => {
    const presubmit = readFileSync(join(clone, ".bcr/presubmit.yml"), "utf8");
    const modulePath = /module_path: "([^"]+)"/.exec(presubmit)?.[1];
    expect(modulePath).toBe("e2e/smoke");
    // As the BCR runs it: inside the unpacked source archive, reaching the module as ../..
    const ws = join(unpacked, rel.stripPrefix, modulePath!);
    const outputBase = join(tmp, "ob-smoke");
    servers.push({ cwd: ws, outputBase });
    const tested = await bazel7(ws, outputBase, ["test", "--test_output=errors", "//..."]);
    expect(tested.exitCode, explain(tested, ws)).toBe(0);
    expect(tested.stdout).toMatch(/\/\/:smoke_test\s+PASSED/);
    expect(readFileSync(join(ws, "bazel-bin/greeting.txt"), "utf8")).toBe("smoke from nix from a genrule\n");
  });
});
