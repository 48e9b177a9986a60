// Bad input: each error names the repository and what is wrong, shows Nix's own message where
// Nix produced it, and leaves nothing behind that keeps a fixed input from building.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FLAVORS, explain, makeWorkspace, type PackageSpec, type Workspace } from "./harness.js";

const GOOD_BUILD = `genrule(name = "hello_out", outs = ["hello.txt"], tools = ["@pkg//:bin/hello"], cmd = "$(location @pkg//:bin/hello) > $@")\n`;

const PACKAGES: PackageSpec[] = [
  { name: "bad_attr", attribute_path: "does_not_exist" },
  { name: "bad_syntax", attribute_path: "", extra: `nix_file = "//bad:syntax.nix"` },
  { name: "failing_build", attribute_path: "failing" },
  {
    name: "two_build_files",
    attribute_path: "hello",
    extra: `build_file = "//bad:pkg.BUILD", build_file_content = "filegroup(name = 'x')"`,
  },
  { name: "no_nix_strict", attribute_path: "hello" },
  { name: "no_nix_lenient", attribute_path: "hello", extra: "fail_not_supported = False" },
  { name: "pkg", attribute_path: "does_not_exist_either" },
];

const SYNTAX_NIX = `{ ... }:
{
  x = 1 +;
}
`;

describe.each(FLAVORS)("bad input, $title", (flavor) => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await makeWorkspace(flavor, {
      packages: PACKAGES,
      build: GOOD_BUILD,
      files: { "bad/BUILD.bazel": `exports_files(glob(["**"]))\n`, "bad/syntax.nix": SYNTAX_NIX, "bad/pkg.BUILD": "" },
    });
  });
  afterAll(async () => {
    await ws?.close();
  });

  test("an unknown attribute names the repository and the attribute, and shows Nix's message", async () => {
    const r = await ws.bazel(["build", "@bad_attr//:closure"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toContain(`nixpkgs_package(name = "bad_attr")`);
    expect(r.all).toContain(`attribute_path 'does_not_exist'`);
    expect(r.all).toMatch(/Nix said:\s*\nerror: attribute 'does_not_exist' in selection path 'does_not_exist' not found/);
  });

  test("a syntax error in nix_file names the file and line", async () => {
    const r = await ws.bazel(["build", "@bad_syntax//:closure"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toContain(`nixpkgs_package(name = "bad_syntax")`);
    expect(r.all).toMatch(/syntax error[^\n]*/);
    expect(r.all).toMatch(/bad\/syntax\.nix:3:/);
  });

  test("a failing derivation shows the builder's output", async () => {
    const r = await ws.bazel(["build", "@failing_build//:closure"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toContain(`nixpkgs_package(name = "failing_build")`);
    expect(r.all).toContain("fixture build failure: intentional");
  });

  test("build_file together with build_file_content is refused", async () => {
    const r = await ws.bazel(["build", "@two_build_files//:closure"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toContain(`nixpkgs_package(name = "two_build_files"): set build_file or build_file_content, not both.`);
  });

  test("nix-build missing: a clear error, or an empty repository with fail_not_supported = False", async () => {
    const noNix = ["--repo_env=PATH=/nonexistent"];
    const strict = await ws.bazel(["build", ...noNix, "@no_nix_strict//:closure"]);
    expect(strict.exitCode).not.toBe(0);
    expect(strict.all).toContain(`nixpkgs_package(name = "no_nix_strict"): nix-build and nix-store were not found on PATH.`);
    expect(strict.all).toContain("set fail_not_supported = False");

    const lenient = await ws.bazel(["query", ...noNix, "@no_nix_lenient//..."]);
    expect(lenient.exitCode, explain(lenient)).toBe(0);
    expect(lenient.all).toContain("Empty results");
  });

  test("after a failed fetch, fixing the input and rebuilding works", async () => {
    const failed = await ws.bazel(["build", "//:hello_out"]);
    expect(failed.exitCode).not.toBe(0);
    expect(failed.all).toContain(`attribute_path 'does_not_exist_either'`);

    ws.writePackages(PACKAGES.map((p) => (p.name === "pkg" ? { name: "pkg", attribute_path: "hello" } : p)));
    const fixed = await ws.bazel(["build", "//:hello_out"]);
    expect(fixed.exitCode, explain(fixed)).toBe(0);
    expect(ws.bin("hello.txt")).toBe("hello from nix\n");
  });
});
