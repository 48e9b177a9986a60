// A user's path through nixgen, end to end, with real Bazel and Nix on both machines: `nixgen
// init` in a workspace (WORKSPACE on Bazel 4.2.3, `init --bzlmod` into a MODULE.bazel on Bazel
// 7.7.1), a nixpkgs source, `nixgen add` of two packages, a build, `nixgen lock` (which
// regenerates the declarations to use the lock), and a refetch that runs no Nix evaluation.
import { afterAll, describe, expect, test } from "vitest";
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURE, FLAVORS, REPO_ROOT, Workspace, explain, leavingMachineStore, nixgenBazelrc } from "./harness.js";
import { makeEvalCounter, nixgenLock, useEvalCounter } from "./lock-support.js";

const workspaces: Workspace[] = [];

afterAll(async () => {
  for (const ws of workspaces) await ws.close();
});

describe.each(FLAVORS)("a user's nixgen workspace, $title", (flavor) => {
  test("init, add, build, lock, and a locked refetch without Nix evaluations", async () => {
    const w = new Workspace(mkdtempSync(join(tmpdir(), "nixstore-flow-")), flavor);
    workspaces.push(w);
    mkdirSync(w.dir, { recursive: true });
    const nixgen = async (args: string[]) => {
      const r = await w.nixgen(args);
      expect(r.exitCode, `nixgen ${args.join(" ")}\n${r.all}`).toBe(0);
      return r;
    };
    // What the declarations of the packages live in, under each Bazel.
    const declarations = flavor.bzlmod ? "nixstore/nixstore.MODULE.bazel" : "nixstore/repositories.bzl";

    if (flavor.bzlmod) {
      // No registry here has rules_nixstore: the user's override, as init's note says.
      w.write(
        "MODULE.bazel",
        `module(name = "flow")\n\nlocal_path_override(module_name = "rules_nixstore", path = ${JSON.stringify(REPO_ROOT)})\n`,
      );
    } else {
      w.write("WORKSPACE", `workspace(name = "flow")\n\nlocal_repository(name = "rules_nixstore", path = ${JSON.stringify(REPO_ROOT)})\n`);
    }
    cpSync(FIXTURE, join(w.dir, "nix/fixture"), { recursive: true });
    w.write("nix/BUILD.bazel", "");
    w.write("nix/nixpkgs.nix", "import ./fixture\n");

    await nixgen(flavor.bzlmod ? ["init", "--bzlmod"] : ["init"]);
    if (flavor.bzlmod) {
      expect(w.read("MODULE.bazel")).toContain('bazel_dep(name = "rules_nixstore"');
      expect(w.read("MODULE.bazel")).toContain('include("//nixstore:nixstore.MODULE.bazel")');
      expect(existsSync(join(w.dir, "WORKSPACE"))).toBe(false);
    } else {
      expect(w.read("WORKSPACE")).toContain("nixstore_repositories()");
    }
    // What the starter config suggests, done as a user would: the workspace's own nixpkgs.
    const starter = w.read("nixgen.config.ts");
    const suggestion = `    // or a .nix file of this workspace: nixpkgs: { local: "//nix:nixpkgs.nix" },`;
    expect(starter).toContain(suggestion);
    w.write("nixgen.config.ts", starter.replace(suggestion, `    nixpkgs: { local: "//nix:nixpkgs.nix" },`));
    await nixgen(["add", "hello"]);
    const added = await nixgen(["add", "greet"]);
    expect(added.stdout).toContain('nixgen: added package "greet"');
    expect(w.read(declarations)).toContain('name = "greet"');

    w.write(
      "BUILD.bazel",
      `genrule(
    name = "out",
    outs = ["out.txt"],
    tools = ["@hello//:bin/hello", "@greet//:bin/greet"],
    cmd = "($(location @hello//:bin/hello); $(location @greet//:bin/greet) flow) > $@",
)
`,
    );
    appendFileSync(join(w.dir, ".bazelrc"), 'build "--repo_env=NIX_CONFIG=substituters ="\n');
    const counter = makeEvalCounter(join(w.root, "counter"), flavor);
    useEvalCounter(w, counter);
    await nixgenBazelrc(w.dir, w.outputBase, [], flavor);

    const built = await w.bazel(["build", "//:out"]);
    expect(built.exitCode, explain(built)).toBe(0);
    expect(w.bin("out.txt")).toBe("hello from nix\ngreet from nix flow\n");
    // The two packages of the one nixpkgs share one evaluation.
    expect(counter.lines()).toEqual([expect.stringMatching(/^nix-instantiate .* -A greet -A hello /)]);

    const locked = await nixgenLock(w);
    expect(locked.exitCode, String(locked.all)).toBe(0);
    expect(locked.stdout).toContain("(2 package(s) locked)");
    // The generated declarations now point at the lock, and the workspace is fresh.
    expect(locked.stdout).toContain(`nixgen: wrote ${declarations}`);
    expect(existsSync(join(w.dir, "nixstore.lock.json"))).toBe(true);
    expect(w.read(declarations)).toContain('lock = "//:nixstore.lock.json"');
    const pins = JSON.parse(readFileSync(join(w.dir, "nixstore.lock.json"), "utf8")) as { packages: Record<string, unknown> };
    expect(Object.keys(pins.packages).sort()).toEqual(["greet", "hello"]);
    await nixgen(["--check"]);

    // The changed declarations fetch both packages again: from the lock, with no evaluation.
    const marker = (name: string) => statSync(join(w.outputBase, "external", `@${flavor.canonical(name)}.marker`)).mtimeMs;
    const fetchedAt = { hello: marker("hello"), greet: marker("greet") };
    counter.reset();
    const again = await w.bazel(["build", "//:out"]);
    expect(again.exitCode, explain(again)).toBe(0);
    expect(marker("hello")).not.toBe(fetchedAt.hello);
    expect(marker("greet")).not.toBe(fetchedAt.greet);
    expect(counter.lines()).toEqual([]);
    expect(w.bin("out.txt")).toBe("hello from nix\ngreet from nix flow\n");
  });

  // Remote strategy "remotable" without an executor: Bazel runs the remotable package's Nix build
  // on this machine (its own Nix and store), so the generated declarations and bazelrc are
  // checked by a real load and fetch. The Buildbarn side is test/integration/remotable.test.ts.
  test("a remotable config loads and fetches with the generated bazelrc, on this machine's Nix", async () => {
    const w = new Workspace(mkdtempSync(join(tmpdir(), "nixstore-flow-remotable-")), flavor);
    workspaces.push(w);
    mkdirSync(w.dir, { recursive: true });
    const rules = JSON.stringify(REPO_ROOT);
    if (flavor.bzlmod) w.write("MODULE.bazel", `module(name = "flow")\n\nlocal_path_override(module_name = "rules_nixstore", path = ${rules})\n`);
    else w.write("WORKSPACE", `workspace(name = "flow")\n\nlocal_repository(name = "rules_nixstore", path = ${rules})\n`);
    cpSync(FIXTURE, join(w.dir, "nix/fixture"), { recursive: true });
    w.write("nix/BUILD.bazel", "");
    w.write("nix/nixpkgs.nix", "import ./fixture\n");
    const init = await w.nixgen(flavor.bzlmod ? ["init", "--bzlmod"] : ["init"]);
    expect(init.exitCode, String(init.all)).toBe(0);
    // A source not named nixpkgs: the bzlmod tag's label "@pinned" means @pinned//:pinned.
    w.write(
      "nixgen.config.ts",
      `import { defineConfig } from "rules_nixstore/config";

export default defineConfig({
  nixpkgs: { pinned: { local: "//nix:nixpkgs.nix" } },
  packages: { hello: { nixopts: ["--option", "substituters", ""] } },
  remote: { strategy: "remotable", executor: "grpc://127.0.0.1:1", nixBuildExecProperties: { pool: "nix" } },
  bzlmod: ${flavor.bzlmod},
});
`,
    );
    const generated = await w.nixgen([]);
    expect(generated.exitCode, String(generated.all)).toBe(0);
    expect(w.read("nixstore/nixstore.bazelrc")).toContain("\ncommon --experimental_repo_remote_exec\n");
    expect(w.read(flavor.bzlmod ? "nixstore/nixstore.MODULE.bazel" : "nixstore/repositories.bzl")).toContain(
      flavor.bzlmod ? 'repository = "@pinned",' : "remotable = True,",
    );
    await nixgenBazelrc(w.dir, w.outputBase, [], flavor);
    w.write("BUILD.bazel", 'genrule(\n    name = "out",\n    outs = ["out.txt"],\n    tools = ["@hello//:bin/hello"],\n    cmd = "$(location @hello//:bin/hello) > $@",\n)\n');

    // The bazelrc's `common` line is taken by commands that load nothing, too.
    for (const command of ["info", "clean", "shutdown"]) {
      const r = await w.bazel([command]);
      expect(r.exitCode, `bazel ${command}\n${explain(r)}`).toBe(0);
    }
    // Debian's Bazels say "Version information not available" (exit 2) with or without it.
    expect((await w.bazel(["version"])).all).not.toMatch(/Unrecognized option/);

    // As root on the host, Nix 2.8 builds into the system store only without build users (no
    // nixbld group here); the sid root's Nix 2.34 needs nothing.
    const nixConfig = flavor.bzlmod ? [] : ["--repo_env=NIX_CONFIG=build-users-group =\nsubstituters ="];
    // query takes no `build` line: it loads the workspace only through the `common` one.
    // The query fetches the package: its Nix build already runs here.
    await leavingMachineStore(w, async () => {
      const query = await w.bazel(["query", ...nixConfig, "deps(//:out)"]);
      expect(query.exitCode, explain(query)).toBe(0);
      expect(query.stdout).toMatch(/@hello\/\/:bin\/hello/);
      const built = await w.bazel(["build", ...nixConfig, "//:out"]);
      expect(built.exitCode, explain(built)).toBe(0);
      expect(w.bin("out.txt")).toBe("hello from nix\n");
    });
    // The remote build repository beside the package did the Nix build.
    const remoteBuild = `${flavor.bzlmod ? "rules_nixstore~~nixstore_remotable~" : ""}hello__nixstore_remote_build`;
    expect(existsSync(join(w.outputBase, "external", remoteBuild))).toBe(true);

    const lock = await w.nixgen(["lock"]);
    expect(lock.exitCode).not.toBe(0);
    expect(lock.all).toContain('has remote strategy "remotable": its packages are built where Bazel runs remotable repository rules');
  });
});
