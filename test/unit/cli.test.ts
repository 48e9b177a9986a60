import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../generator/main.js";
import { REPO_ROOT, tempDir } from "./support.js";

/** Runs nixgen in-process and captures its output. */
async function nixgen(argv: string[], cwd = REPO_ROOT) {
  let out = "";
  let err = "";
  const code = await main(argv, {
    out: (t) => (out += `${t}\n`),
    err: (t) => (err += `${t}\n`),
    cwd,
  });
  return { code, out, err };
}

describe("nixgen CLI", () => {
  it("prints usage with every command on --help", async () => {
    const { code, out } = await nixgen(["--help"]);
    expect(code).toBe(0);
    expect(out).toContain("nixgen [generate] [--check] [--workspace DIR | --root DIR]");
    expect(out).toContain("nixgen bazelrc [--workspace DIR]");
  });

  it("prints a command's options on `<command> --help`", async () => {
    const { code, out } = await nixgen(["bazelrc", "--help"]);
    expect(code).toBe(0);
    expect(out).toMatch(/--mount-target DIR/);
  });

  it("prints the package version on --version", async () => {
    const version = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).version;
    expect(await nixgen(["--version"])).toMatchObject({ code: 0, out: `${version}\n` });
  });

  it("rejects an unknown flag with a clear message and exit code 2", async () => {
    const { code, err } = await nixgen(["--chek"]);
    expect(code).toBe(2);
    expect(err).toMatch(/unknown option --chek for `generate`; run `nixgen generate --help`/);
  });

  it("rejects an unknown command and stray arguments with exit code 2", async () => {
    expect((await nixgen(["frobnicate"])).code).toBe(2);
    expect((await nixgen(["frobnicate"])).err).toMatch(/unknown command "frobnicate"; commands: generate, bazelrc/);
    expect((await nixgen(["generate", "extra"])).err).toMatch(/unexpected argument extra/);
  });

  it("refuses to generate outside the rules_nixstore repository without --root", async () => {
    const { code, err } = await nixgen(["generate"], tempDir());
    expect(code).toBe(2);
    expect(err).toMatch(/not inside the rules_nixstore repository.*--root DIR/);
  });

  it("generates into --root, then --check passes, fails naming an edited file, and passes again", async () => {
    const root = tempDir();
    const first = await nixgen(["generate", "--root", root]);
    expect(first.code).toBe(0);
    expect(first.out).toContain("nixgen: wrote rules/private/attrs.bzl");
    expect((await nixgen(["--check", "--root", root])).code).toBe(0);
    expect((await nixgen(["--root", root])).out).toContain("0 written, 4 unchanged");

    fs.appendFileSync(path.join(root, "rules/private/constants.bzl"), "X = 1\n");
    const stale = await nixgen(["--check", "--root", root]);
    expect(stale.code).toBe(1);
    expect(stale.err).toContain("rules/private/constants.bzl");
    expect(stale.err).toContain("Refresh with: npm run generate");

    await nixgen(["generate", "--root", root]);
    expect((await nixgen(["--check", "--root", root])).code).toBe(0);
  });

  it("--check fails when MODULE.bazel's version differs from package.json's", async () => {
    const root = tempDir();
    expect((await nixgen(["generate", "--root", root])).code).toBe(0);
    const file = path.join(root, "MODULE.bazel");
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/version = "[^"]*"/, 'version = "0.0.0-stale"'));
    const stale = await nixgen(["--check", "--root", root]);
    expect(stale.code).toBe(1);
    expect(stale.err).toContain("MODULE.bazel  (differs from the generator's output)");
    expect((await nixgen(["generate", "--root", root])).out).toContain("nixgen: wrote MODULE.bazel");
    expect(fs.readFileSync(file, "utf8")).not.toContain("0.0.0-stale");
  });

  it("notes that a remotable workspace's lock file is not used", async () => {
    const ws = tempDir();
    fs.writeFileSync(path.join(ws, "WORKSPACE"), "");
    fs.writeFileSync(path.join(ws, "nixstore.lock.json"), "{}\n");
    const config = (strategy: string) =>
      `export default { nixpkgs: { nixpkgs: { local: "//:n.nix" } }, packages: { jq: {} }, remote: { strategy: "${strategy}", executor: "grpc://bb:1" } };\n`;
    fs.writeFileSync(path.join(ws, "nixgen.config.ts"), config("remotable"));
    const remotable = await nixgen(["--workspace", ws]);
    expect(remotable.code, remotable.err).toBe(0);
    expect(remotable.out).toContain('nixgen: note: nixstore.lock.json is not used: remote strategy "remotable" builds every package');
    expect(fs.readFileSync(path.join(ws, "nixstore/repositories.bzl"), "utf8")).not.toContain("lock =");
    fs.writeFileSync(path.join(ws, "nixgen.config.ts"), config("shared-store"));
    const shared = await nixgen(["--workspace", ws]);
    expect(shared.code, shared.err).toBe(0);
    expect(shared.out).toContain('nixgen: note: nixstore.lock.json is not used: remote strategy "shared-store" builds every package');
    expect(fs.readFileSync(path.join(ws, "nixstore/repositories.bzl"), "utf8")).not.toContain("lock =");
    fs.writeFileSync(path.join(ws, "nixgen.config.ts"), config("launcher"));
    const launcher = await nixgen(["--workspace", ws]);
    expect(launcher.out).not.toContain("is not used");
    expect(fs.readFileSync(path.join(ws, "nixstore/repositories.bzl"), "utf8")).toContain('lock = "//:nixstore.lock.json"');
  });

  it("finds the rules_nixstore root upwards from a subdirectory", async () => {
    const { code, out } = await nixgen(["--check"], path.join(REPO_ROOT, "generator", "model"));
    expect(code).toBe(0);
    expect(out).toContain(`up to date in ${REPO_ROOT}`);
  });

  it("writes the bazelrc fragment without calling bazel when output base and version are given", async () => {
    const ws = tempDir();
    const outputBase = tempDir();
    const target = path.join(tempDir(), "store");
    fs.mkdirSync(target);
    const { code, out } = await nixgen(
      ["bazelrc", "--workspace", ws, "--output-base", outputBase, "--mount-target", target,
        "--bazel-version", "7.4.1"],
    );
    expect(code).toBe(0);
    expect(out).toContain(`wrote ${path.join(ws, ".nixstore.bazelrc")}`);
    expect(fs.readFileSync(path.join(ws, ".nixstore.bazelrc"), "utf8")).toContain(
      `build --sandbox_add_mount_pair=${outputBase}/nixstore/nix/store:${target}\n`,
    );
  });
});
