import { afterEach, describe, expect, test } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { discoverNixFileDeps, pathLiterals, stripNixCommentsAndStrings } from "../../generator/workspace/nixdeps.js";

describe("pathLiterals", () => {
  test("finds relative path literals in code, not in comments or strings", () => {
    const src = `
      # import ./commented.nix
      /* callPackage ./block-commented { } */
      let lib = import ../lib.nix; msg = "see ./in-string.nix"; ind = ''
        cp ./in-indented-string $out
      '';
      in {
        a = callPackage ./pkgs/a { };
        b = import ./b.nix { inherit lib; };
        c = "\${./interpolated.sh}";
        d = builtins.path { path = ./data; name = "data"; };
        e = x.y./z;  # not a path: part of a larger token
      }`;
    expect(pathLiterals(src)).toEqual(["../lib.nix", "./pkgs/a", "./b.nix", "./interpolated.sh", "./data"]);
  });

  test("keeps line structure when blanking comments and strings", () => {
    const src = 'a = "x\ny"; # c\nb = ./p;';
    const out = stripNixCommentsAndStrings(src);
    expect(out.split("\n")).toHaveLength(3);
    expect(out).toContain("./p");
    expect(out).not.toContain("x");
  });

  test("escaped quotes and '' escapes do not end strings early", () => {
    expect(pathLiterals(String.raw`s = "a \" ./no.nix"; t = ''a ''' ./no2.nix ''$ ./no3.nix''; u = ./yes.nix;`)).toEqual([
      "./yes.nix",
    ]);
  });
});

describe("discoverNixFileDeps", () => {
  let root = "";
  afterEach(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  function write(files: Record<string, string>): void {
    for (const [p, content] of Object.entries(files)) {
      mkdirSync(dirname(join(root, p)), { recursive: true });
      writeFileSync(join(root, p), content);
    }
  }

  test("follows imports, callPackage directories and data paths transitively; labels by owning package", () => {
    root = mkdtempSync(join(tmpdir(), "nixdeps-"));
    write({
      "BUILD.bazel": "",
      "nix/BUILD.bazel": "",
      "nix/nixpkgs.nix": `
        # import ./ignored.nix
        let lib = import ./lib.nix; in {
          a = import ./pkgs/a.nix { inherit lib; };
          b = callPackage ./pkgs/b { };
          data = ./data;
          self = import ./nixpkgs.nix;
        }`,
      "nix/lib.nix": "{ }",
      "nix/ignored.nix": "{ }",
      "nix/pkgs/a.nix": "{ lib }: import ../../tools/helper.nix",
      "nix/pkgs/b/default.nix": "{ }: ./builder.sh",
      "nix/pkgs/b/builder.sh": "echo b",
      "nix/data/one.txt": "1",
      "nix/data/sub/two.txt": "2",
      "tools/BUILD": "",
      "tools/helper.nix": "{ }",
    });
    const found = discoverNixFileDeps(root, "//nix:nixpkgs.nix");
    expect(found.deps).toEqual([
      "//nix:data/one.txt",
      "//nix:data/sub/two.txt",
      "//nix:lib.nix",
      "//nix:pkgs/a.nix",
      "//nix:pkgs/b/builder.sh",
      "//nix:pkgs/b/default.nix",
      "//tools:helper.nix",
    ]);
    expect(found.notes).toEqual([]);
  });

  test("says what it did not follow: outside the workspace, missing, no package, external labels", () => {
    root = mkdtempSync(join(tmpdir(), "nixdeps-"));
    write({
      "nix/BUILD.bazel": "",
      "nix/default.nix": "[ (import ../../outside.nix) (import ./missing.nix) (import ../loose/x.nix) ]",
      "loose/x.nix": "1",
    });
    const found = discoverNixFileDeps(root, "//nix:default.nix");
    expect(found.deps).toEqual([]);
    expect(found.notes).toEqual([
      "nix/default.nix: ../../outside.nix is outside the workspace; not followed",
      "nix/default.nix: ./missing.nix does not exist",
      "loose/x.nix is in no Bazel package (no BUILD file above it); add one",
    ]);
    expect(discoverNixFileDeps(root, "@other//nix:default.nix").notes).toEqual([
      "@other//nix:default.nix is outside the workspace: list the files it imports in nixFileDeps",
    ]);
  });
});
