import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CC_TOOLCHAIN_TAG, EXTENSION, PACKAGE_TAG, packageTags, withApparentNames } from "../../generator/bazel/driver.js";
import {
  LOCK_COMMENT,
  declaredPackages,
  locationsByName,
  packagesToLock,
  parseLock,
  parseLocations,
  parseShowExtension,
  readRecord,
  renderLock,
  type LockEntry,
} from "../../generator/lock/index.js";
import { tempDir } from "./support.js";

const A = "/nix/store/" + "a".repeat(32) + "-tiny01";
const B = "/nix/store/" + "b".repeat(32) + "-busybox";
const H1 = "sha256:" + "1".repeat(52);
const H2 = "sha256:" + "2".repeat(52);
const entry: LockEntry = { inputs: "sha256:" + "f".repeat(64), out: [A], closure: { [B]: H2, [A]: H1 } };

describe("the lock file", () => {
  it("renders with sorted keys, two-space indent and a trailing newline, whatever the input order", () => {
    const one = renderLock({ zeta: entry, alpha: entry });
    const two = renderLock({ alpha: { closure: { [A]: H1, [B]: H2 }, out: [A], inputs: entry.inputs }, zeta: entry });
    expect(one).toBe(two);
    expect(one.endsWith("}\n")).toBe(true);
    const parsed = JSON.parse(one) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(["_comment", "packages", "version"]);
    expect(parsed._comment).toBe(LOCK_COMMENT);
    expect(Object.keys((parsed.packages as Record<string, unknown>).alpha as object)).toEqual(["closure", "inputs", "out"]);
    expect(one.indexOf(A)).toBeLessThan(one.indexOf(B));
  });

  it("parses what it renders", () => {
    const lock = parseLock(renderLock({ tiny01: entry }), "nixstore.lock.json");
    expect(lock.packages.tiny01).toEqual(entry);
    expect(lock.nars).toEqual({});
  });

  it("writes where each store path's NAR is (nars) only when a binary cache was looked up, sorted before the packages", () => {
    const nar = {
      cache: "http://127.0.0.1:8080",
      url: `nar/${"1".repeat(52)}.nar.xz`,
      compression: "xz",
      fileHash: "sha256:0" + "1".repeat(51),
      fileSize: 100,
      narHash: "sha256:0" + "2".repeat(51),
      narSize: 200,
      references: [],
    };
    const text = renderLock({ tiny01: entry }, { [B]: nar });
    expect(Object.keys(JSON.parse(text) as object)).toEqual(["_comment", "nars", "packages", "version"]);
    expect(Object.keys((JSON.parse(text) as { nars: Record<string, object> }).nars[B]!)).toEqual([
      "cache", "compression", "fileHash", "fileSize", "narHash", "narSize", "references", "url",
    ]);
    expect(parseLock(text, "f.json").nars).toEqual({ [B]: nar });
    expect(renderLock({ tiny01: entry }, {})).toBe(renderLock({ tiny01: entry }));
    const bad = JSON.stringify({ version: 1, packages: { tiny01: entry }, nars: { [B]: { ...nar, compression: "br" } } });
    expect(() => parseLock(bad, "f.json")).toThrow(/f\.json: nars of .*-busybox: compression "br" is not one of none, xz, zstd, bzip2; run `nixgen lock` again/);
  });

  it("names the file, the package and what to do when the lock is malformed", () => {
    expect(() => parseLock("{", "ws/nixstore.lock.json")).toThrow(/ws\/nixstore\.lock\.json is not valid JSON .*run `nixgen lock`/);
    expect(() => parseLock('{"version": 2, "packages": {}}', "f.json")).toThrow(/f\.json has version 2, nixgen reads version 1/);
    const bad = JSON.stringify({ version: 1, packages: { tiny01: { ...entry, out: ["/tmp/x"] } } });
    expect(() => parseLock(bad, "f.json")).toThrow(/f\.json: package "tiny01": out holds "\/tmp\/x", not a store path/);
    const badHash = JSON.stringify({ version: 1, packages: { tiny01: { ...entry, closure: { [A]: "md5:x" } } } });
    expect(() => parseLock(badHash, "f.json")).toThrow(/closure hash of .*-tiny01 is "md5:x"/);
  });
});

/** `bazel mod show_extension` of Bazel 7.7.1 for a root module and a dependency using the extension. */
const SHOW_EXTENSION = `## @@rules_nixstore~//rules:extensions.bzl%nixstore:

Fetched repositories:
  - hello (imported by <root>)
  - jq (imported by <root>, dep@1.0)
  - nixpkgs (imported by <root>)
  - depnix
  - deptool (imported by dep@1.0)

## Usage in <root> from /ws/nixstore/nixstore.MODULE.bazel:10
nixstore.local_repository(name="nixpkgs", nix_file="//nixpkgs:default.nix")
nixstore.package(name="hello", repository="nixpkgs", nixopts=["--option", "substituters", ""])
nixstore.package(attribute_path="jq", name="jq", repository="nixpkgs")
use_repo(
  nixstore,
  "hello",
  "jq",
  "nixpkgs",
)

## Usage in dep@1.0 from /ob/external/dep~/MODULE.bazel:4
nix.local_repository(name="depnix", nix_file_content="{}")
nix.package(name="deptool", repository="depnix")
nix.package(name="jq", repository="depnix")
use_repo(
  nix,
  "deptool",
  "jq",
)
`;

describe("which packages nixgen lock locks", () => {
  const CONFIG = `export default { nixpkgs: { nixpkgs: { local: "//nix:n.nix" } }, packages: { zed: {}, hello: {} } };\n`;

  it("takes them from nixgen.config.ts in a workspace with only a MODULE.bazel, asking Bazel nothing", async () => {
    const ws = tempDir();
    fs.writeFileSync(path.join(ws, "MODULE.bazel"), 'module(name = "x")\n');
    fs.writeFileSync(path.join(ws, "nixgen.config.ts"), CONFIG);
    // A Bazel that cannot run: the config alone names the packages.
    const declared = await declaredPackages({ workspace: ws, bazel: path.join(ws, "no-such-bazel") });
    expect(declared).toEqual({ names: ["hello", "zed"], where: "nixgen.config.ts", binaryCaches: [] });
    expect(packagesToLock(declared, [], ws)).toEqual(["hello", "zed"]);
    expect(packagesToLock(declared, ["zed", "zed"], ws)).toEqual(["zed"]);
    expect(() => packagesToLock(declared, ["jq", "zed"], ws)).toThrow(
      `no package named "jq" in ${ws}'s nixgen.config.ts; its packages are: hello, zed`,
    );
  });

  it("without a config under bzlmod, takes the package tags the root module imports (bazel mod show_extension)", async () => {
    const ws = tempDir();
    await expect(declaredPackages({ workspace: ws })).rejects.toThrow(
      `${ws} has no WORKSPACE, WORKSPACE.bazel or MODULE.bazel file; run nixgen lock in a Bazel workspace`,
    );
    fs.writeFileSync(path.join(ws, "MODULE.bazel"), "");
    const bazel = path.join(ws, "fake-bazel");
    fs.writeFileSync(bazel, `#!/bin/sh\n[ "$*" = "mod show_extension ${EXTENSION}" ] || exit 2\ncat <<'EOF'\n${SHOW_EXTENSION}EOF\n`, { mode: 0o755 });
    const declared = await declaredPackages({ workspace: ws, bazel });
    expect(declared).toEqual({ names: ["hello", "jq"], where: "MODULE.bazel", binaryCaches: [] });
    expect(() => packagesToLock(declared, ["nixpkgs"], ws)).toThrow(`no package named "nixpkgs" in ${ws}'s MODULE.bazel; its packages are: hello, jq`);

    fs.writeFileSync(bazel, "#!/bin/sh\necho 'ERROR: No extension @@rules_nixstore~//rules:extensions.bzl%nixstore exists in the dependency graph.' >&2\nexit 2\n");
    await expect(declaredPackages({ workspace: ws, bazel })).rejects.toThrow(
      /failed in .*, so nixgen cannot tell the packages of its MODULE\.bazel:\n {2}ERROR: No extension .*\n.*use the nixstore extension there, or name the packages with --package NAME/,
    );
  });

  it("reads the root module's packages from `bazel mod show_extension`, leaving out sources and other modules' packages", () => {
    expect(parseShowExtension(SHOW_EXTENSION)).toEqual(["hello", "jq"]);
  });

  it("says there is nothing to lock when the config has no packages", async () => {
    const ws = tempDir();
    fs.writeFileSync(path.join(ws, "WORKSPACE"), "");
    fs.writeFileSync(path.join(ws, "nixgen.config.ts"), "export default {};\n");
    const declared = await declaredPackages({ workspace: ws });
    expect(() => packagesToLock(declared, [], ws)).toThrow(`${ws}'s nixgen.config.ts declares no package; nothing to lock`);
  });

  it.each(["remotable", "shared-store"])(
    "refuses a config whose packages are remotable (strategy %s): the executor builds them, the lock cannot pin them",
    async (strategy) => {
      const ws = tempDir();
      fs.writeFileSync(path.join(ws, "WORKSPACE"), "");
      const remote = `remote: { strategy: "${strategy}", executor: "grpc://bb:8980", nixBuildExecProperties: { pool: "nix" } }`;
      fs.writeFileSync(path.join(ws, "nixgen.config.ts"), CONFIG.replace("packages:", `${remote}, packages:`));
      // A Bazel that cannot run: the config alone decides, before any fetch.
      await expect(declaredPackages({ workspace: ws, bazel: path.join(ws, "no-such-bazel") })).rejects.toThrow(
        `${ws}'s nixgen.config.ts has remote strategy "${strategy}": its packages are built where Bazel runs remotable ` +
          "repository rules (the remote executor), and nixstore.lock.json pins only packages this machine builds; nothing to lock",
      );
    },
  );
});

describe("finding the repositories after the fetch", () => {
  const record = (name: string) => JSON.stringify({ version: 1, name, ...entry });

  it("reads `bazel query --output=location` of Bazel 4 and Bazel 7 alike", () => {
    const out = [
      "Loading: 0 packages loaded",
      "/ob/external/hello/BUILD.bazel:25:10: filegroup rule @hello//:closure",
      "/ob/external/rules_nixstore~~nixstore~greet/BUILD.bazel:25:10: filegroup rule @greet//:closure",
      "/ob/external/+nixstore+jq/BUILD:3:1: filegroup rule @@+nixstore+jq//:closure",
      "/ob/external/hello/BUILD.bazel:31:20: nixstore_executable rule @hello//:bin/hello",
    ].join("\n");
    expect(parseLocations(out)).toEqual([
      { dir: "/ob/external/hello", label: "@hello//:closure" },
      { dir: "/ob/external/rules_nixstore~~nixstore~greet", label: "@greet//:closure" },
      { dir: "/ob/external/+nixstore+jq", label: "@@+nixstore+jq//:closure" },
    ]);
  });

  it("keys directories by apparent name: from the label, else from the record the repository wrote", () => {
    const ob = tempDir();
    const canonical = path.join(ob, "external", "+nixstore+jq");
    fs.mkdirSync(path.join(canonical, "_nixstore"), { recursive: true });
    fs.writeFileSync(path.join(canonical, "_nixstore", "lock.json"), record("jq"));
    const dirs = locationsByName([
      { dir: "/ob/external/rules_nixstore~~nixstore~greet", label: "@greet//:closure" },
      { dir: canonical, label: "@@+nixstore+jq//:closure" },
    ]);
    expect([...dirs.entries()]).toEqual([
      ["greet", "/ob/external/rules_nixstore~~nixstore~greet"],
      ["jq", canonical],
    ]);
    expect(readRecord(dirs.get("jq"), "jq")).toEqual(entry);
  });

  it("names the package by its apparent name, never the canonical directory, when its record is missing or wrong", () => {
    const dir = path.join(tempDir(), "rules_nixstore~~nixstore~hello");
    expect(() => readRecord(undefined, "hello")).toThrow(/^package "hello" left no record \(_nixstore\/lock\.json in its repository\)/);
    expect(() => readRecord(dir, "hello")).toThrow(/^package "hello" left no record/);
    fs.mkdirSync(path.join(dir, "_nixstore"), { recursive: true });
    fs.writeFileSync(path.join(dir, "_nixstore", "lock.json"), record("rules_nixstore~~nixstore~hello"));
    let message = "";
    try {
      readRecord(dir, "hello");
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^the record of @hello .* expected 1 and "hello"/);
    expect(message.replace('name "rules_nixstore~~nixstore~hello"', "")).not.toContain("~");
  });
});

describe("Bazel's errors in nixgen lock's messages", () => {
  it("name the packages by apparent name, on Bazel 7 and 8, leaving file paths alone", () => {
    const bazel7 = [
      "ERROR: /ob/external/rules_nixstore~/rules/private/package.bzl:111:9: An error occurred during the fetch of repository 'rules_nixstore~~nixstore~broken':",
      "ERROR: no such package '@@rules_nixstore~~nixstore~broken//': nixpkgs_package(name = \"broken\"): nix-build failed",
      "  /ob/external/rules_nixstore~~nixstore~broken/BUILD.bazel",
    ].join("\n");
    expect(withApparentNames(bazel7, ["broken", "hello"])).toBe(
      [
        "ERROR: /ob/external/rules_nixstore~/rules/private/package.bzl:111:9: An error occurred during the fetch of repository 'broken':",
        "ERROR: no such package '@broken//': nixpkgs_package(name = \"broken\"): nix-build failed",
        "  /ob/external/rules_nixstore~~nixstore~broken/BUILD.bazel",
      ].join("\n"),
    );
    expect(withApparentNames("repository '+nixstore+py3.11' and @@rules_nixstore++nixstore+jq//:closure", ["py3.11", "jq"])).toBe(
      "repository 'py3.11' and @jq//:closure",
    );
    // Another package whose name ends like this one's is not touched.
    expect(withApparentNames("'rules_nixstore~~nixstore~myjq'", ["jq"])).toBe("'rules_nixstore~~nixstore~myjq'");
  });
});

describe("nixgen gc: the packages in use under bzlmod", () => {
  it("takes every package tag of every module from bazel mod show_extension, not the sources", () => {
    const out = [
      "## @@rules_nixstore~//rules:extensions.bzl%nixstore:",
      "",
      "Fetched repositories:",
      "  - greet (imported by <root>)",
      "  - nixpkgs",
      "  - tiny01 (imported by dep@1.0)",
      "",
      "## Usage in <root> from /ws/MODULE.bazel:4",
      'nixstore.local_repository(name="nixpkgs", nix_file="//nixpkgs:default.nix")',
      'nixstore.package(name="greet", repository="nixpkgs")',
      "",
      "## Usage in dep@1.0 from /dep/MODULE.bazel:3",
      'nixstore.package(name="tiny01", repository="nixpkgs")',
    ].join("\n");
    expect(packageTags(out)).toEqual(["greet", "tiny01"]);
  });

  it("takes the C/C++ toolchains' tags too when asked: gc must keep their repositories", () => {
    const out = [
      'nixstore.local_repository(name="nixpkgs", nix_file="//nixpkgs:default.nix")',
      'nixstore.package(name="greet", repository="nixpkgs")',
      'nixstore.cc_configure(name="nixpkgs_cc", repository="nixpkgs")',
    ].join("\n");
    expect(packageTags(out)).toEqual(["greet"]);
    expect(packageTags(out, [PACKAGE_TAG, CC_TOOLCHAIN_TAG])).toEqual(["greet", "nixpkgs_cc"]);
  });
});
