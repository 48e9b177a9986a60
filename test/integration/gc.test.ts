// `nixgen gc`: the output base's chroot store loses what no package repository uses any more —
// the old output of a package whose derivation changed, and the closure of a package the
// workspace no longer declares (its repository is removed too) — and keeps everything in use:
// the build still runs, the store verifies, and a package declared again is fetched afresh.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { FLAVORS, explain, makeWorkspace, type PackageSpec, type Workspace } from "./harness.js";

/** The genrule runs the executable of @tiny01, whichever attribute it builds. */
const build = (exe: string) => `genrule(
    name = "out",
    outs = ["out.txt"],
    tools = ["@tiny01//:bin/${exe}", "@greet//:bin/greet"],
    cmd = "($(location @tiny01//:bin/${exe}); $(location @greet//:bin/greet) gc) > $@",
)
`;
const BEFORE: PackageSpec[] = [{ name: "tiny01" }, { name: "tiny02" }, { name: "greet" }];
// tiny02 is gone; tiny01 now builds another derivation (the fixture's tiny03, which prints "tiny03").
const AFTER: PackageSpec[] = [{ name: "tiny01", attribute_path: "tiny03" }, { name: "greet" }];

describe.each(FLAVORS)("nixgen gc, $title", (flavor) => {
  let ws: Workspace;
  const store = () => join(ws.outputBase, "nixstore/nix/store");
  const entries = () => readdirSync(store()).filter((e) => !e.startsWith("."));
  const named = (suffix: string) => entries().filter((e) => e.endsWith(`-${suffix}`));
  const gc = (...args: string[]) => ws.nixgen(["gc", "--workspace", ws.dir, "--output-base", ws.outputBase, ...args]);

  beforeAll(async () => {
    ws = await makeWorkspace(flavor, { packages: BEFORE, build: build("tiny01") });
    const r = await ws.bazel(["build", "//:out", "@tiny02//:closure"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(ws.bin("out.txt")).toBe("tiny01\ngreet from nix gc\n");
    ws.writePackages(AFTER);
    ws.write("BUILD.bazel", build("tiny03"));
    const again = await ws.bazel(["build", "//:out"]);
    expect(again.exitCode, explain(again)).toBe(0);
    expect(ws.bin("out.txt")).toBe("tiny03\ngreet from nix gc\n");
  });
  afterAll(async () => {
    await ws?.close();
  });

  test("--dry-run names the stale repository and the unused paths, and deletes nothing", async () => {
    const before = entries().sort();
    const r = await gc("--dry-run");
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.stdout).toContain('nixgen: would remove the repository of "tiny02" (no longer declared by the workspace)');
    expect(r.stdout).toMatch(/would remove \/nix\/store\/[0-9a-z]{32}-tiny01$/m);
    expect(r.stdout).not.toMatch(/-(tiny03|greet|busybox)$/m);
    expect(entries().sort()).toEqual(before);
    expect(existsSync(ws.repoDir("tiny02"))).toBe(true);
  });

  test("deletes what nothing uses, keeps what is used, and the workspace still builds", async () => {
    expect(named("tiny01")).toHaveLength(1);
    expect(named("tiny02")).toHaveLength(1);
    const r = await gc();
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.stdout).toContain('nixgen: removed the repository of "tiny02"');
    expect(r.stdout).toMatch(/store paths deleted/);
    // The old output of tiny01 and tiny02's closure are gone; busybox stays (greet and tiny03 use it).
    expect(named("tiny01")).toEqual([]);
    expect(named("tiny02")).toEqual([]);
    expect(named("tiny03")).toHaveLength(1);
    expect(named("greet")).toHaveLength(1);
    expect(named("busybox")).toHaveLength(1);
    expect(existsSync(ws.repoDir("tiny02"))).toBe(false);
    const verify = await ws.run(["nix-store", "--store", join(ws.outputBase, "nixstore"), "--option", "build-users-group", "", "--verify"]);
    expect(verify.exitCode, explain(verify)).toBe(0);

    await ws.bazel(["clean"]);
    const build = await ws.bazel(["build", "//:out"]);
    expect(build.exitCode, explain(build)).toBe(0);
    expect(ws.bin("out.txt")).toBe("tiny03\ngreet from nix gc\n");
    // Nothing left to collect.
    const twice = await gc();
    expect(twice.stdout).not.toMatch(/nixgen: removed/);
  });

  test("a package declared again after gc is fetched afresh", async () => {
    ws.writePackages([...AFTER, { name: "tiny02" }]);
    const r = await ws.bazel(["build", "@tiny02//:closure"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(named("tiny02")).toHaveLength(1);
    expect(existsSync(join(ws.repoDir("tiny02"), "nix/store", named("tiny02")[0]!, "bin/tiny02"))).toBe(true);
  });
});
