// The nixstore module extension across modules, on Bazel 7.7.1 (bzlmod only; WORKSPACE has one
// workspace, so nothing of this applies to Bazel 4.2.3): a non-root module declares its own
// nixpkgs and packages and builds with them; the root module asking for the same package with
// the same attributes shares that one repository; asking with other attributes fails naming both
// modules and the attributes that differ. Messages use the names users wrote, never the
// canonical ones (`rules_nixstore~~nixstore~<name>`).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { cpSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  BAZEL7,
  FIXTURE,
  FLAVORS,
  OFFLINE_NIXOPTS,
  REPO_ROOT,
  VERSION,
  explain,
  makeWorkspace,
  starlarkList,
  type Workspace,
} from "./harness.js";

/** MODULE.bazel of the non-root module `dep`: its own copy of the fixture and two packages. */
function depModule(deps: string[]): string {
  return `module(name = "dep", version = "1.0")

bazel_dep(name = "rules_nixstore", version = ${JSON.stringify(VERSION)})

nixstore = use_extension("@rules_nixstore//rules:extensions.bzl", "nixstore")
nixstore.local_repository(
    name = "dep_nixpkgs",
    nix_file = "//nixpkgs:default.nix",
    nix_file_deps = ${starlarkList(deps)},
)
nixstore.package(
    name = "tiny01",
    repository = "dep_nixpkgs",
    nixopts = ${starlarkList(OFFLINE_NIXOPTS)},
)
nixstore.package(
    name = "broken",
    attribute_path = "no_such_attribute",
    repository = "dep_nixpkgs",
    nixopts = ${starlarkList(OFFLINE_NIXOPTS)},
)
use_repo(nixstore, "broken", "tiny01")
`;
}

const DEP_BUILD = `genrule(
    name = "dep_out",
    outs = ["dep.txt"],
    tools = ["@tiny01//:bin/tiny01"],
    cmd = "$(location @tiny01//:bin/tiny01) > $@",
    visibility = ["//visibility:public"],
)

genrule(
    name = "broken_out",
    outs = ["broken.txt"],
    srcs = ["@broken//:closure"],
    cmd = "touch $@",
)
`;

/** The root module's MODULE.bazel: dep, and (optionally) its own request of tiny01. */
function rootModule(tiny01: string | null): string {
  return `module(name = "it")

bazel_dep(name = "rules_nixstore", version = ${JSON.stringify(VERSION)})
local_path_override(module_name = "rules_nixstore", path = ${JSON.stringify(REPO_ROOT)})

bazel_dep(name = "dep", version = "1.0")
local_path_override(module_name = "dep", path = "dep")
${
  tiny01 === null
    ? ""
    : `
nixstore = use_extension("@rules_nixstore//rules:extensions.bzl", "nixstore")
nixstore.package(
    name = "tiny01",
    repository = "dep_nixpkgs",
    nixopts = ${starlarkList(OFFLINE_NIXOPTS)},${tiny01}
)
use_repo(nixstore, "tiny01")
`
}`;
}

const ROOT_BUILD = `genrule(
    name = "root_out",
    outs = ["root.txt"],
    tools = ["@tiny01//:bin/tiny01"],
    cmd = "$(location @tiny01//:bin/tiny01) > $@",
)
`;

describe.runIf(FLAVORS.includes(BAZEL7))("the nixstore extension in a root and a non-root module, Bazel 7.7.1", () => {
  let ws: Workspace;

  beforeAll(async () => {
    // The harness's workspace gives the output base and .nixstore.bazelrc; its MODULE.bazel is
    // replaced below.
    ws = await makeWorkspace(BAZEL7, { packages: [], build: ROOT_BUILD });
    cpSync(FIXTURE, join(ws.dir, "dep/nixpkgs"), { recursive: true });
    ws.write("dep/nixpkgs/BUILD.bazel", `exports_files(glob(["**"]))\n`);
    const deps = readdirSync(join(FIXTURE), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => `//nixpkgs:${join(e.parentPath ?? e.path, e.name).slice(FIXTURE.length + 1)}`)
      .sort();
    ws.write("dep/MODULE.bazel", depModule(deps));
    ws.write("dep/BUILD.bazel", DEP_BUILD);
  });

  afterAll(async () => {
    await ws?.close();
  });

  test("a non-root module's own packages build for it", async () => {
    ws.write("MODULE.bazel", rootModule(null));
    const r = await ws.bazel(["build", "@dep//:dep_out"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(readFileSync(join(ws.dir, "bazel-bin/external", "dep~/dep.txt"), "utf8")).toBe("tiny01\n");
  });

  test("the same request from the root module merges with dep's: one repository", async () => {
    ws.write("MODULE.bazel", rootModule(""));
    const r = await ws.bazel(["build", "//:root_out", "@dep//:dep_out"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(ws.bin("root.txt")).toBe("tiny01\n");
    const repos = readdirSync(join(ws.outputBase, "external")).filter((e) => /~nixstore~tiny01$/.test(e));
    expect(repos).toEqual(["rules_nixstore~~nixstore~tiny01"]);
  });

  test("another request under the same name fails, naming both modules and the difference", async () => {
    ws.write("MODULE.bazel", rootModule(`\n    attribute_path = "tiny02",`));
    const r = await ws.bazel(["build", "//:root_out"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toContain(
      'nixstore: the root module (it) and module dep@1.0 both declare nixstore.package(name = "tiny01"), differently:',
    );
    expect(r.all).toContain(`attribute_path: "tiny02" in the root module (it), "" in module dep@1.0`);
    expect(r.all).toContain("make the two requests equal, or give one another name");
  });

  test("a package naming a repository no tag declares is refused, with the tags it could name", async () => {
    ws.write(
      "MODULE.bazel",
      rootModule("").replace('use_repo(nixstore, "tiny01")', 'nixstore.package(name = "tiny03", repository = "nixpkgs_typo")\nuse_repo(nixstore, "tiny01", "tiny03")'),
    );
    const r = await ws.bazel(["build", "//:root_out"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toContain(
      'nixstore.package(name = "tiny03") in the root module (it): repository names "nixpkgs_typo", which no ' +
        "nixstore.git_repository/http_repository/local_repository tag declares.",
    );
  });

  test("a failing package of a non-root module is reported under the name its module gave it", async () => {
    ws.write("MODULE.bazel", rootModule(null));
    const r = await ws.bazel(["build", "@dep//:broken_out"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toContain(`nixpkgs_package(name = "broken"): nix-build failed for attribute_path 'no_such_attribute'`);
    // The canonical name appears only where Bazel itself names the repository, never in ours.
    expect(r.all).not.toMatch(/nixpkgs_package\(name = "[^"]*~/);
  });
});
