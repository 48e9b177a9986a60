// A user's path through nixgen, end to end, with real Bazel and Nix on both machines: `nixgen
// init` in a workspace (WORKSPACE on Bazel 4.2.3, `init --bzlmod` into a MODULE.bazel on Bazel
// 7.7.1), a nixpkgs source, `nixgen add` of two packages, a build, `nixgen lock` (which
// regenerates the declarations to use the lock), and a refetch that runs no Nix evaluation.
import { afterAll, describe, expect, test } from "vitest";
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURE, FLAVORS, REPO_ROOT, Workspace, explain, nixgenBazelrc } from "./harness.js";
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
    expect(locked.exitCode, locked.all).toBe(0);
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
});
