// nixgen in a bzlmod workspace, on Debian sid's Bazel 7.7.1 and Nix 2.34 (scripts/sid,
// scripts/bazel7): a temp workspace with only a MODULE.bazel (never a WORKSPACE file) and the
// fixture nixpkgs goes through what a user does — `nixgen init --bzlmod`, the config, `nixgen`,
// `nixgen bazelrc`, a build, `nixgen lock`, a build that fetches with the lock, `nixgen doctor`.
// nixgen runs inside the sid root, as the integration suites run it for Bazel 7; a few steps
// also run it on the host with `--bazel scripts/bazel7`.
//
// Bazel 7 differences this covers: repositories of the nixstore extension live under canonical
// names (`rules_nixstore~~nixstore~hello`), there is no //external to query, and Debian's
// Bazel 7 says `bazel 7.7.1` where Debian's Bazel 4 says `bazel no_version`.
import { execa } from "execa";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BAZEL7 as BAZEL7_FLAVOR, FIXTURE, FLAVORS, NIXGEN, REPO_ROOT, SID_ROOT, VERSION, explain } from "./harness.js";

const SID = join(REPO_ROOT, "scripts/sid");
const BAZEL7 = BAZEL7_FLAVOR.bazel;
const PACKAGES = ["greet", "hello"];

const BUILD = `genrule(
    name = "hello_out",
    outs = ["hello.txt"],
    tools = ["@hello//:bin/hello"],
    cmd = "$(location @hello//:bin/hello) > $@",
)

genrule(
    name = "greet_out",
    outs = ["greet.txt"],
    tools = ["@greet//:bin/greet"],
    cmd = "$(location @greet//:bin/greet) bzlmod > $@",
)
`;

interface Lock {
  packages: Record<string, { inputs: string; out: string[]; closure: Record<string, string> }>;
}

describe.runIf(FLAVORS.includes(BAZEL7_FLAVOR))("nixgen in a MODULE.bazel-only workspace, Bazel 7.7.1 + Nix 2.34", () => {
  // Made in beforeAll: the describe's body also runs when the suite is skipped.
  let root = "";
  let ws = "";
  let ob = "";
  const read = (file: string) => readFileSync(join(ws, file), "utf8");
  const write = (file: string, text: string) => writeFileSync(join(ws, file), text);
  const run = (cmd: string, args: string[]) =>
    execa(cmd, args, { cwd: ws, reject: false, all: true, stdin: "ignore" });
  /** nixgen inside the sid root, where `bazel` is Bazel 7.7.1 and Nix is 2.34. */
  const nixgenInSid = (...args: string[]) => run(SID, ["node", NIXGEN, ...args]);
  /** nixgen on the host, reaching Bazel 7 through --bazel scripts/bazel7. */
  const nixgenOnHost = (...args: string[]) => run(process.execPath, [NIXGEN, ...args, "--bazel", BAZEL7]);
  const bazel = (...args: string[]) => run(BAZEL7, [`--output_base=${ob}`, ...args]);
  const noWorkspaceFile = () => expect(readdirSync(ws).filter((f) => f.startsWith("WORKSPACE"))).toEqual([]);

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "nixstore-bzlmod-nixgen-"));
    ws = join(root, "ws");
    ob = join(root, "ob");
    mkdirSync(ws, { recursive: true });
    cpSync(FIXTURE, join(ws, "nixpkgs"), { recursive: true });
    write("MODULE.bazel", 'module(name = "it")\n');
    write("BUILD.bazel", BUILD);
  });

  afterAll(async () => {
    await bazel("shutdown");
    await execa("chmod", ["-R", "u+w", root], { reject: false });
    await execa("rm", ["-rf", root], { reject: false });
  });

  test("nixgen init --bzlmod adds the bazel_dep and the include, and no WORKSPACE", async () => {
    const init = await nixgenInSid("init", "--bzlmod");
    expect(init.exitCode, explain(init)).toBe(0);
    expect(read("MODULE.bazel")).toContain(
      `bazel_dep(name = "rules_nixstore", version = "${VERSION}")\n` +
        '# include() needs Bazel 7.2 or later.\ninclude("//nixstore:nixstore.MODULE.bazel")\n',
    );
    expect(read("nixgen.config.ts")).toContain("bzlmod: true,");
    expect(readdirSync(join(ws, "nixstore")).sort()).toEqual([
      "BUILD.bazel",
      "nixstore.MODULE.bazel",
      "nixstore.bazelrc",
      "repositories.bzl",
    ]);
    noWorkspaceFile();
    // No registry has rules_nixstore: the test adds the override a user would, and a private
    // output base that every Bazel command (nixgen's too) then uses.
    write("MODULE.bazel", `${read("MODULE.bazel")}local_path_override(module_name = "rules_nixstore", path = ${JSON.stringify(REPO_ROOT)})\n`);
    write(".bazelrc", `${read(".bazelrc")}startup --output_base=${ob}\n`);
  });

  test("nixgen generates one tag per source and package of rules_nixstore's extension", async () => {
    const config = read("nixgen.config.ts")
      .replace(/\n  nixpkgs: \{\n/, '\n  nixpkgs: {\n    nixpkgs: { local: "//nixpkgs:default.nix" },\n')
      .replace(
        /\n  packages: \{\n/,
        '\n  packages: {\n    hello: { nixopts: ["--option", "substituters", ""] },\n' +
          '    greet: { nixopts: ["--option", "substituters", ""] },\n',
      );
    write("nixgen.config.ts", config);
    const generate = await nixgenInSid();
    expect(generate.exitCode, explain(generate)).toBe(0);
    const segment = read("nixstore/nixstore.MODULE.bazel");
    expect(segment).toContain('nixstore = use_extension("@rules_nixstore//rules:extensions.bzl", "nixstore")\n');
    expect(segment).toContain('nixstore.local_repository(\n    name = "nixpkgs",\n    nix_file = "//nixpkgs:default.nix",\n');
    expect(segment).toContain('"//nixpkgs:elf/hello.sh",'); // nix_file_deps found by nixgen
    expect(segment.match(/^nixstore\.package\($/gm)).toHaveLength(2);
    expect(segment).toContain('use_repo(\n    nixstore,\n    "greet",\n    "hello",\n)\n');
    expect(segment).not.toContain("lock =");
    expect((await nixgenInSid("--check")).exitCode).toBe(0);
  });

  test("nixgen bazelrc asks Bazel 7 for the output base and adds no Bazel 4 overrides", async () => {
    const inSid = await nixgenInSid("bazelrc");
    expect(inSid.exitCode, explain(inSid)).toBe(0);
    const fragment = read(".nixstore.bazelrc");
    expect(fragment).toContain(`# Output base: ${ob}\n`);
    if (existsSync(join(SID_ROOT, "nix/store"))) {
      expect(fragment).toContain(`build --sandbox_add_mount_pair=${ob}/nixstore/nix/store:/nix/store\n`);
    }
    expect(fragment).not.toContain("--override_repository");

    const onHost = await nixgenOnHost("bazelrc", "--mount-target", join(root, "no-mount-target"));
    expect(onHost.exitCode, explain(onHost)).toBe(0);
    expect(read(".nixstore.bazelrc")).toContain(`# Output base: ${ob}\n`);
    expect(read(".nixstore.bazelrc")).not.toContain("--override_repository");
    // Back to the sid root's own fragment for the builds.
    expect((await nixgenInSid("bazelrc")).exitCode).toBe(0);
  });

  test("Bazel 7 builds the packages of the generated segment", async () => {
    const build = await bazel("build", "//:hello_out", "//:greet_out");
    expect(build.exitCode, explain(build)).toBe(0);
    expect(readFileSync(join(ws, "bazel-bin/hello.txt"), "utf8")).toBe("hello from nix\n");
    expect(readFileSync(join(ws, "bazel-bin/greet.txt"), "utf8")).toBe("greet from nix bzlmod\n");
    expect(existsSync(join(ob, "external/rules_nixstore~~nixstore~hello/BUILD.bazel"))).toBe(true);
  });

  test("nixgen lock pins the packages by apparent name and points every package tag at the lock", async () => {
    const lock = await nixgenInSid("lock");
    expect(lock.exitCode, explain(lock)).toBe(0);
    expect(lock.stdout).toContain(`wrote ${join(ws, "nixstore.lock.json")} (2 package(s) locked)`);
    expect(lock.stdout).toContain("nixgen: wrote nixstore/nixstore.MODULE.bazel");
    const text = read("nixstore.lock.json");
    const pins = JSON.parse(text) as Lock;
    expect(Object.keys(pins.packages)).toEqual(PACKAGES);
    for (const name of PACKAGES) {
      expect(pins.packages[name]!.out.at(-1)).toMatch(new RegExp(`^/nix/store/[0-9a-z]{32}-${name}$`));
    }
    expect(text).not.toContain("rules_nixstore~");
    const segment = read("nixstore/nixstore.MODULE.bazel");
    expect(segment.match(/^ {4}lock = "\/\/:nixstore\.lock\.json",$/gm)).toHaveLength(2);
    expect((await nixgenInSid("--check")).exitCode).toBe(0);

    // Locking again from the host through scripts/bazel7 finds the same pins.
    const again = await nixgenOnHost("lock");
    expect(again.exitCode, explain(again)).toBe(0);
    expect(again.stdout).toContain("unchanged");
    expect(read("nixstore.lock.json")).toBe(text);
    noWorkspaceFile();
  });

  test("nixgen lock generates a stale nixstore/ first; a package that fails names it by apparent name; the lock stays", async () => {
    const config = read("nixgen.config.ts");
    const lockText = read("nixstore.lock.json");
    write("nixgen.config.ts", config.replace("\n  packages: {\n", '\n  packages: {\n    broken: { attributePath: "nosuchattr" },\n'));
    try {
      const lock = await nixgenInSid("lock");
      expect(lock.exitCode, explain(lock)).toBe(1);
      expect(lock.stdout).toContain("nixgen: wrote nixstore/nixstore.MODULE.bazel");
      expect(lock.stderr).toContain("@broken//:closure");
      expect(lock.stderr).toContain("An error occurred during the fetch of repository 'broken'");
      expect(lock.stderr).toContain('nixpkgs_package(name = "broken"): nix-build failed');
      expect(lock.stderr).not.toMatch(/[~+]nixstore[~+]broken'/);
      expect(read("nixstore.lock.json")).toBe(lockText);
    } finally {
      write("nixgen.config.ts", config);
      expect((await nixgenInSid()).exitCode).toBe(0);
    }
    expect(read("nixstore/nixstore.MODULE.bazel")).not.toContain("broken");
  });

  test("a build after locking fetches with the lock: a wrong pin fails the fetch naming the package", async () => {
    const locked = await bazel("build", "//:hello_out", "//:greet_out");
    expect(locked.exitCode, explain(locked)).toBe(0);

    const good = read("nixstore.lock.json");
    const pins = JSON.parse(good) as Lock;
    const out = pins.packages.hello!.out.at(-1)!;
    pins.packages.hello!.closure[out] = `sha256:${"0".repeat(52)}`;
    write("nixstore.lock.json", `${JSON.stringify(pins, null, 2)}\n`);
    try {
      const wrong = await bazel("build", "//:hello_out");
      expect(wrong.exitCode, explain(wrong)).not.toBe(0);
      expect(wrong.all).toContain(`nixpkgs_package(name = "hello"): the store holds ${out} with NAR hash`);
      expect(wrong.all).toContain(`but the lock file pins sha256:${"0".repeat(52)}`);
    } finally {
      write("nixstore.lock.json", good);
    }
    const restored = await bazel("build", "//:hello_out");
    expect(restored.exitCode, explain(restored)).toBe(0);
  });

  test("nixgen doctor takes the MODULE.bazel directory for a workspace and reports Nix 2.34 and Bazel 7.7.1", async () => {
    const inSid = await nixgenInSid("doctor", "--json");
    const report = JSON.parse(String(inSid.stdout)) as { checks: { id: string; status: string; summary: string }[] };
    const check = (id: string) => report.checks.find((c) => c.id === id);
    expect(check("nix-build")?.summary).toMatch(/^nix-build \(Nix\) 2\.34\b/);
    expect(check("bazel")).toMatchObject({ status: "ok", summary: "bazel 7.7.1" });
    expect(check("store")).toMatchObject({ status: "ok", summary: expect.stringContaining(`the chroot store at ${ob}/nixstore is consistent`) });
    expect(inSid.exitCode, explain(inSid)).toBe(0);

    const onHost = await nixgenOnHost("doctor", "--json");
    const hostReport = JSON.parse(String(onHost.stdout)) as typeof report;
    expect(hostReport.checks.find((c) => c.id === "bazel")).toMatchObject({ status: "ok", summary: "bazel 7.7.1" });
    expect(hostReport.checks.find((c) => c.id === "store")?.summary).toContain(`${ob}/nixstore`);
    noWorkspaceFile();
  });
});
