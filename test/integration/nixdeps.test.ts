// nix_file_deps found by nixgen: a workspace whose nixpkgs is a .nix file of its own that
// imports others, generated from nixgen.config.ts without listing any nix_file_deps. A change
// to a file reached only through those imports must fetch the package again (real Bazel, Nix).
import { afterAll, describe, expect, test } from "vitest";
import { cpSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURE, FLAVORS, REPO_ROOT, VERSION, Workspace, closureEntries, explain, nixgenBazelrc } from "./harness.js";

const workspaces: Workspace[] = [];

afterAll(async () => {
  for (const ws of workspaces) await ws.close();
});

describe.each(FLAVORS)("nix_file_deps found by nixgen, $title", (flavor) => {
  test("nixgen finds the files a nix_file imports, and changing one of them fetches the package again", async () => {
    const ws = new Workspace(mkdtempSync(join(tmpdir(), "nixstore-nixdeps-")), flavor);
    workspaces.push(ws);
    mkdirSync(ws.dir, { recursive: true });
    // nix/nixpkgs.nix -> ./fixture (default.nix) -> ./cc.nix, ./elf/hello.sh and the other builder scripts.
    cpSync(FIXTURE, join(ws.dir, "nix/fixture"), { recursive: true });
    ws.write("nix/BUILD.bazel", "");
    ws.write("nix/nixpkgs.nix", "# The workspace's nixpkgs: the offline fixture.\nimport ./fixture\n");
    ws.write(
      "nixgen.config.ts",
      `import { defineConfig } from "rules_nixstore/config";

export default defineConfig({
  nixpkgs: { nixpkgs: { local: "//nix:nixpkgs.nix" } },
  packages: { hello: { nixopts: ["--option", "substituters", ""] } },${flavor.bzlmod ? "\n  bzlmod: true," : ""}
});
`,
    );
    if (flavor.bzlmod) {
      ws.write(
        "MODULE.bazel",
        `module(name = "nixdeps")
bazel_dep(name = "rules_nixstore", version = ${JSON.stringify(VERSION)})
local_path_override(module_name = "rules_nixstore", path = ${JSON.stringify(REPO_ROOT)})
include("//nixstore:nixstore.MODULE.bazel")
`,
      );
    } else {
      ws.write(
        "WORKSPACE",
        `workspace(name = "nixdeps")
local_repository(name = "rules_nixstore", path = ${JSON.stringify(REPO_ROOT)})
load("@rules_nixstore//rules:repositories.bzl", "rules_nixstore_dependencies")
rules_nixstore_dependencies()
load("//nixstore:repositories.bzl", "nixstore_repositories")
nixstore_repositories()
`,
      );
    }
    ws.write(
      "BUILD.bazel",
      `genrule(name = "out", outs = ["out.txt"], tools = ["@hello//:bin/hello"], cmd = "$(location @hello//:bin/hello) > $@")\n`,
    );
    ws.write(".bazelrc", "try-import %workspace%/.nixstore.bazelrc\n");

    const gen = await ws.nixgen([]);
    expect(gen.exitCode, String(gen.all)).toBe(0);
    // It says what it found: the fixture's default.nix (through the directory) and its scripts.
    expect(gen.stdout).toContain(
      "nixgen: nix_file_deps of //nix:nixpkgs.nix: found 5 files: //nix/fixture:cc.nix, " +
        "//nix/fixture:default.nix, //nix/fixture:elf/hello.sh, //nix/fixture:elf/libgreet.sh, //nix/fixture:elf/mkelf.sh",
    );
    // The fixture's copy keeps its BUILD.bazel: its files belong to the package //nix/fixture.
    expect(ws.read(flavor.bzlmod ? "nixstore/nixstore.MODULE.bazel" : "nixstore/repositories.bzl")).toContain(
      '"//nix/fixture:elf/hello.sh"',
    );
    await nixgenBazelrc(ws.dir, ws.outputBase, [], flavor);

    const first = await ws.bazel(["build", "//:out"]);
    expect(first.exitCode, explain(first)).toBe(0);
    expect(ws.bin("out.txt")).toBe("hello from nix\n");
    const before = closureEntries(ws, "hello").find((e) => e.endsWith("-hello"));

    // Two imports deep, never named in the config: the builder script of hello.
    ws.write("nix/fixture/elf/hello.sh", ws.read("nix/fixture/elf/hello.sh") + "\n# changed by nixdeps.test.ts\n");
    const again = await ws.bazel(["build", "//:out"]);
    expect(again.exitCode, explain(again)).toBe(0);
    const after = closureEntries(ws, "hello").find((e) => e.endsWith("-hello"));
    expect(before).toBeDefined();
    expect(after).not.toBe(before);
    expect(ws.bin("out.txt")).toBe("hello from nix\n");
  });
});
