// Where the Nix expressions come from: nixpkgs_http_repository (a pinned tarball), inline
// nix_file_content, and nix_file_deps that fetch the packages again when they change.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  FIXTURE,
  FLAVORS,
  closureEntries,
  explain,
  makeWorkspace,
  starlarkList,
  type PackageSpec,
  type SourceSpec,
  type Workspace,
} from "./harness.js";

const GENRULE = (repo: string, exe: string) =>
  `genrule(name = "${repo}_out", outs = ["${repo}.txt"], tools = ["@${repo}//:bin/${exe}"], cmd = "$(location @${repo}//:bin/${exe}) > $@")\n`;

describe.each(FLAVORS)("nixpkgs sources, $title", (flavor) => {
  let ws: Workspace;
  let tarball: string;
  let sha256: string;
  const packages: PackageSpec[] = [{ name: "hello" }];
  const sources: SourceSpec[] = [];

  beforeAll(async () => {
    ws = await makeWorkspace(flavor, {
      packages,
      build: GENRULE("hello", "hello") + GENRULE("from_http", "hello") + GENRULE("inline", "greet"),
    });
    // A pinned nixpkgs tarball, served from a file:// URL (there is no network here).
    tarball = join(ws.root, "nixpkgs-fixture.tar.gz");
    await execa("tar", ["-czf", tarball, "-C", join(FIXTURE, ".."), "--transform", "s,^nixpkgs,nixpkgs-fixture,", "nixpkgs"]);
    sha256 = createHash("sha256").update(readFileSync(tarball)).digest("hex");
  });
  afterAll(async () => {
    await ws?.close();
  });

  /** Declares more sources and packages, keeping the earlier ones. */
  function declare(more: { sources?: SourceSpec[]; packages?: PackageSpec[] }): void {
    sources.push(...(more.sources ?? []));
    packages.push(...(more.packages ?? []));
    ws.writePackages(packages, sources);
  }

  test("nixpkgs_http_repository: a pinned tarball with strip_prefix feeds nixpkgs_package", async () => {
    const http = (hash: string) => `url = "file://${tarball}",\n    sha256 = "${hash}",\n    strip_prefix = "nixpkgs-fixture"`;
    declare({
      sources: [
        { kind: "http_repository", name: "nixpkgs_http", attrs: http(sha256) },
        { kind: "http_repository", name: "nixpkgs_bad_hash", attrs: http("0".repeat(64)) },
      ],
      packages: [
        { name: "from_http", attribute_path: "hello", repository: "nixpkgs_http" },
        { name: "bad_hash", attribute_path: "hello", repository: "nixpkgs_bad_hash" },
      ],
    });
    const r = await ws.bazel(["build", "//:from_http_out"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(ws.bin("from_http.txt")).toBe("hello from nix\n");

    const bad = await ws.bazel(["build", "@bad_hash//:closure"]);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.all).toMatch(/Checksum was [0-9a-f]{64} but wanted 0{64}/);
  });

  test("nix_file_content: an inline expression with relative imports of nix_file_deps", async () => {
    const deps = ["//nixpkgs:default.nix", "//nixpkgs:elf/hello.sh", "//nixpkgs:elf/libgreet.sh", "//nixpkgs:elf/mkelf.sh"];
    declare({
      packages: [
        {
          name: "inline",
          attribute_path: "",
          repository: null,
          extra: `nix_file_content = "(import ./nixpkgs/default.nix {}).greet",\n    nix_file_deps = ${starlarkList(deps)}`,
        },
      ],
    });
    // nix_file_deps sit at their label paths beside the inline expression.
    const r = await ws.bazel(["build", "//:inline_out"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(ws.bin("inline.txt")).toBe("greet from nix\n");
  });

  test("nixpkgs_git_repository: a remote that is not GitHub, or a revision that is no commit, is refused", async () => {
    declare({
      sources: [
        { kind: "git_repository", name: "nixpkgs_gitlab", attrs: `remote = "https://gitlab.com/x/nixpkgs",\n    revision = "${"a".repeat(40)}"` },
        { kind: "git_repository", name: "nixpkgs_branch", attrs: `revision = "nixos-unstable"` },
      ],
      packages: [
        { name: "from_gitlab", attribute_path: "hello", repository: "nixpkgs_gitlab" },
        { name: "from_branch", attribute_path: "hello", repository: "nixpkgs_branch" },
      ],
    });
    const gitlab = await ws.bazel(["build", "@from_gitlab//:closure"]);
    expect(gitlab.exitCode).not.toBe(0);
    expect(gitlab.all).toContain(
      'nixpkgs_git_repository(name = "nixpkgs_gitlab"): remote is "https://gitlab.com/x/nixpkgs"; only GitHub repositories',
    );
    const branch = await ws.bazel(["build", "@from_branch//:closure"]);
    expect(branch.exitCode).not.toBe(0);
    expect(branch.all).toContain('nixpkgs_git_repository(name = "nixpkgs_branch"): revision is "nixos-unstable"; give a full 40-hex commit hash');
  });

  test("changing a file in nix_file_deps fetches the package again, with a new store path", async () => {
    const first = await ws.bazel(["build", "//:hello_out"]);
    expect(first.exitCode, explain(first)).toBe(0);
    const before = closureEntries(ws, "hello").find((e) => e.endsWith("-hello"));
    // The hello ELF is written by elf/hello.sh: change a comment there, and so the derivation.
    ws.write("nixpkgs/elf/hello.sh", ws.read("nixpkgs/elf/hello.sh") + "\n# changed by a test\n");
    const second = await ws.bazel(["build", "//:hello_out"]);
    expect(second.exitCode, explain(second)).toBe(0);
    const after = closureEntries(ws, "hello").find((e) => e.endsWith("-hello"));
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    expect(ws.bin("hello.txt")).toBe("hello from nix\n");
  });
});
