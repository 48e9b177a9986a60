// Executable names a shell would misread (the fixture's `hostile`: spaces, quotes, `$`, `;`,
// `$(...)`, backticks, `%{PROGRAM}`, ...). Each name a Bazel label can hold gets a launcher
// that runs the program under its exact name with argv intact — where the launcher executes the
// store path directly, where it maps the closure, and with --spawn_strategy=local, where a name
// evaluated by a shell would touch a file in the execroot. Names no label can hold (`\`, a
// newline, `:`, `...`; a space on Bazel 4.2.3, whose runfiles cannot hold it) are refused at
// fetch time with a warning naming the package and each file, and the rest of the package works.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BAZEL7, FLAVORS, closureEntries, explain, hasMountTarget, makeWorkspace, type Workspace } from "./harness.js";
import { HOSTILE_NAMES, RUN_EACH_BZL, hostileBuild, hostileOutput, unlabelable } from "./hygiene-support.js";

describe.each(FLAVORS)("executable names a shell would misread, $title", (flavor) => {
  const refused = unlabelable(flavor === BAZEL7);
  const runnable = HOSTILE_NAMES.filter((n) => !refused.includes(n));
  let ws: Workspace;
  let fetch = "";
  let hostile = ""; // /nix/store/<hash>-hostile

  beforeAll(async () => {
    ws = await makeWorkspace(flavor, {
      packages: [{ name: "hostile" }],
      build: hostileBuild(runnable),
      files: { "run_each.bzl": RUN_EACH_BZL },
    });
    const r = await ws.bazel(["build", "--nobuild", "//:hostile_runs"]);
    expect(r.exitCode, explain(r)).toBe(0);
    fetch = String(r.all);
    hostile = `/nix/store/${closureEntries(ws, "hostile").find((e) => e.endsWith("-hostile"))}`;
  });

  afterAll(async () => {
    await ws?.close();
  });

  test("the fetch names the package and each executable whose name no label can hold", () => {
    expect(fetch).toContain(
      `nixpkgs_package(name = "hostile"): ${refused.length} file(s) of the closure have names that Bazel labels cannot hold`,
    );
    // Each as a Starlark string literal: a backslash doubled, a newline as \n.
    for (const name of refused) expect(fetch).toContain(JSON.stringify(`${hostile}/bin/${name}`));
    expect(fetch).toContain("an executable among them gets no bin/<name> target");
  });

  test("every other name is a runnable target", async () => {
    const q = await ws.bazel(["query", "kind(nixstore_executable, @hostile//:*)", "--output=label"]);
    expect(q.exitCode, explain(q)).toBe(0);
    const targets = String(q.stdout)
      .split("\n")
      .filter(Boolean)
      .map((l) => l.slice(l.indexOf("//:") + 3))
      .sort();
    expect(targets).toEqual(runnable.map((n) => `bin/${n}`).sort());
  });

  const modes = [
    ...(hasMountTarget(flavor) ? [{ how: "linux-sandbox, the mount pair shows the store", mountPair: true, flags: ["--spawn_strategy=linux-sandbox"] }] : []),
    { how: "linux-sandbox, the launcher maps the closure", mountPair: false, flags: ["--spawn_strategy=linux-sandbox"] },
    { how: "--spawn_strategy=local, the launcher maps the closure", mountPair: false, flags: ["--spawn_strategy=local"] },
  ];
  test.each(modes)("each runs under its own name with argv intact ($how)", async ({ mountPair, flags }) => {
    await ws.writeBazelrc(mountPair);
    try {
      await ws.bazel(["clean"]);
      const r = await ws.bazel(["build", ...flags, "//:hostile_runs"]);
      expect(r.exitCode, explain(r)).toBe(0);
      runnable.forEach((name, i) => {
        expect(readFileSync(join(ws.dir, `bazel-bin/hostile_runs/${i}.txt`), "utf8"), name).toBe(hostileOutput(name));
      });
      // Where actions run in the execroot itself, a name a shell evaluated would have left a file.
      const execroot = join(ws.outputBase, "execroot", flavor.bzlmod ? "_main" : "it");
      expect(existsSync(execroot)).toBe(true);
      expect(existsSync(join(execroot, "injected"))).toBe(false);
    } finally {
      await ws.writeBazelrc(hasMountTarget(flavor));
    }
  });
});
