// Where the Nix expressions come from: nixpkgs_http_repository (a pinned tarball), inline
// nix_file_content, and nix_file_deps that fetch the packages again when they change.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURE, OFFLINE_NIXOPTS, closureEntries, explain, makeWorkspace, starlarkList, type Workspace } from "./harness.js";

const GENRULE = (repo: string, exe: string) =>
  `genrule(name = "${repo}_out", outs = ["${repo}.txt"], tools = ["@${repo}//:bin/${exe}"], cmd = "$(location @${repo}//:bin/${exe}) > $@")\n`;

describe("nixpkgs sources", () => {
  let ws: Workspace;
  let tarball: string;
  let sha256: string;

  beforeAll(async () => {
    ws = await makeWorkspace({
      packages: [{ name: "hello" }],
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

  function appendWorkspace(text: string): void {
    ws.write("WORKSPACE", ws.read("WORKSPACE") + text);
  }

  test("nixpkgs_http_repository: a pinned tarball with strip_prefix feeds nixpkgs_package", async () => {
    appendWorkspace(`
load("@rules_nixstore//rules:defs.bzl", "nixpkgs_http_repository")
nixpkgs_http_repository(
    name = "nixpkgs_http",
    url = "file://${tarball}",
    sha256 = "${sha256}",
    strip_prefix = "nixpkgs-fixture",
)
nixpkgs_package(name = "from_http", attribute_path = "hello", repository = "@nixpkgs_http", nixopts = ${starlarkList(OFFLINE_NIXOPTS)})
nixpkgs_http_repository(
    name = "nixpkgs_bad_hash",
    url = "file://${tarball}",
    sha256 = "${"0".repeat(64)}",
    strip_prefix = "nixpkgs-fixture",
)
nixpkgs_package(name = "bad_hash", attribute_path = "hello", repository = "@nixpkgs_bad_hash")
`);
    const r = await ws.bazel(["build", "//:from_http_out"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(ws.bin("from_http.txt")).toBe("hello from nix\n");

    const bad = await ws.bazel(["build", "@bad_hash//:closure"]);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.all).toMatch(/Checksum was [0-9a-f]{64} but wanted 0{64}/);
  });

  test("nix_file_content: an inline expression with relative imports of nix_file_deps", async () => {
    appendWorkspace(`
nixpkgs_package(
    name = "inline",
    nix_file_content = "(import ./nixpkgs/default.nix {}).greet",
    nix_file_deps = ${starlarkList(["//nixpkgs:default.nix", "//nixpkgs:elf/hello.sh", "//nixpkgs:elf/libgreet.sh", "//nixpkgs:elf/mkelf.sh"])},
    nixopts = ${starlarkList(OFFLINE_NIXOPTS)},
)
`);
    // nix_file_deps sit at their label paths beside the inline expression.
    const r = await ws.bazel(["build", "//:inline_out"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(ws.bin("inline.txt")).toBe("greet from nix\n");
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
