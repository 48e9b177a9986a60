// --config=nixstore-strict (written by `nixgen bazelrc`): the linux-sandbox shows only the closures
// an action's Nix tools carry, as a remote worker would. An action that calls a store path it did
// not declare passes under the default (the mount pair shows the whole store of the output base)
// and fails under the strict config; declared tools keep working there.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FLAVORS, closureEntries, explain, hasMountTarget, makeWorkspace, type Workspace } from "./harness.js";

// `undeclared` declares greet only, then runs hello's binary by its store path.
const build = (hello: string) => `
genrule(
    name = "declared",
    outs = ["declared.txt"],
    tools = ["@greet//:bin/greet", "@hello//:bin/hello"],
    cmd = "($(location @hello//:bin/hello); $(location @greet//:bin/greet) strict) > $@",
)

genrule(
    name = "undeclared",
    outs = ["undeclared.txt"],
    tools = ["@greet//:bin/greet"],
    cmd = "$(location @greet//:bin/greet) x > /dev/null && /nix/store/${hello}/bin/hello > $@",
)
`;

describe.each(FLAVORS)("--config=nixstore-strict, $title", (flavor) => {
  let ws: Workspace;

  beforeAll(async () => {
    ws = await makeWorkspace(flavor, { packages: [{ name: "hello" }, { name: "greet" }], build: build("unknown") });
    const fetched = await ws.bazel(["build", "--nobuild", "@hello//:closure", "@greet//:closure"]);
    expect(fetched.exitCode, explain(fetched)).toBe(0);
    ws.write("BUILD.bazel", build(closureEntries(ws, "hello").find((e) => e.endsWith("-hello"))!));
  });
  afterAll(async () => {
    await ws?.close();
  });

  test.runIf(hasMountTarget(flavor))("an undeclared store path passes with the mount pair, and fails under the strict config", async () => {
    const loose = await ws.bazel(["build", "--spawn_strategy=linux-sandbox", "//:undeclared"]);
    expect(loose.exitCode, explain(loose)).toBe(0);
    expect(ws.bin("undeclared.txt")).toBe("hello from nix\n");

    // Sandbox settings are not part of action keys: start from an empty action cache.
    await ws.bazel(["clean"]);
    const strict = await ws.bazel(["build", "--config=nixstore-strict", "//:undeclared"]);
    expect(strict.exitCode).not.toBe(0);
    expect(strict.all).toMatch(/\/nix\/store\/[^\s]*-hello\/bin\/hello: (No such file or directory|not found)/);
  });

  test("declared tools run under the strict config", async () => {
    await ws.bazel(["clean"]);
    const r = await ws.bazel(["build", "--config=nixstore-strict", "//:declared"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.all).toMatch(/\d+ linux-sandbox/);
    expect(ws.bin("declared.txt")).toBe("hello from nix\ngreet from nix strict\n");
  });
});
