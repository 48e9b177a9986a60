// Fixture packages run in genrules, sh_tests and a ctx.actions.run rule, in every way Bazel runs
// actions on one machine: linux-sandbox with the generated mount pair (the store shows through
// directly), linux-sandbox without it and with /nix hidden (the launcher maps the closure),
// and --spawn_strategy=local (the launcher maps the closure).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { LAUNCH_SUFFIX } from "../../generator/model/index.js";
import { EXPECT_OUTPUT_SH, FLAVORS, closureEntries, explain, hasMountTarget, hostStoreEntries, makeWorkspace, type Flavor, type Workspace } from "./harness.js";

const BUILD = (flavor: Flavor) => `
load(":run_tool.bzl", "run_tool")

genrule(
    name = "hello_out",
    outs = ["hello.txt"],
    tools = ["@hello//:bin/hello"],
    cmd = "$(location @hello//:bin/hello) > $@",
)

genrule(
    name = "greet_out",
    outs = ["greet.txt"],
    tools = ["@greet//:bin/greet"],
    cmd = "$(location @greet//:bin/greet) 'two words' '$$HOME' > $@",
)

genrule(
    name = "linked_out",
    outs = ["linked.txt"],
    tools = ["@linked//:bin/hello"],
    srcs = ["@linked//:share/greet/message.txt", "@linked//:share/self-link.txt"],
    cmd = "$(location @linked//:bin/hello) > $@ && cat $(location @linked//:share/greet/message.txt) $(location @linked//:share/self-link.txt) >> $@",
)

genrule(
    name = "count_out",
    outs = ["count.txt"],
    tools = ["@manyfiles//:bin/count-files"],
    cmd = "$(location @manyfiles//:bin/count-files) > $@",
)

# How /nix/store looks to a program run through a launcher: which mount, read-only or not,
# and as which user.
genrule(
    name = "store_view",
    outs = ["store_view.txt"],
    tools = ["@busybox//:bin/sh"],
    cmd = "$(location @busybox//:bin/sh) -c 'grep \\" /nix/store \\" /proc/self/mountinfo; id -u; (echo x > /nix/store/probe) 2>/dev/null && echo writable || echo read-only' > $@",
)

run_tool(
    name = "ran_by_rule",
    tool = "@busybox//:bin/sh",
    args = ["-c", "echo \\"$0 $1\\" > \\"$2\\"", "from", "ctx.actions.run", "{out}"],
    out = "ran_by_rule.txt",
)

sh_test(
    name = "hello_test",
    srcs = ["expect_output.sh"],
    data = ["@hello//:bin/hello"],
    args = ["'hello from nix'", "$(rootpath @hello//:bin/hello)"],
)

sh_test(
    name = "greet_test",
    srcs = ["expect_output.sh"],
    data = ["@greet//:bin/greet"],
    args = ["'greet from nix a b'", "$(rootpath @greet//:bin/greet)", "a", "b"],
)

sh_test(
    name = "linked_test",
    srcs = ["expect_output.sh"],
    data = ["@linked//:bin/hello"],
    args = ["'hello from nix'", "$(rootpath @linked//:bin/hello)"],
)

sh_test(
    name = "count_test",
    srcs = ["expect_output.sh"],
    data = ["@manyfiles//:bin/count-files"],
    args = ["5120", "$(rootpath @manyfiles//:bin/count-files)"],
)

# Negative control: the raw store file, run without a launcher.
genrule(
    name = "raw_hello",
    outs = ["raw_hello.txt"],
    srcs = ["@hello//:closure"],
    cmd = "$$(ls external/${flavor.canonical("hello")}/nix/store/*-hello/bin/hello) > $@",
)
`;

const FILES = {
  "expect_output.sh": EXPECT_OUTPUT_SH,
  "run_tool.bzl": `
def _run_tool_impl(ctx):
    # The launcher target itself is the executable: no shell around it.
    ctx.actions.run(
        executable = ctx.executable.tool,
        arguments = [a.replace("{out}", ctx.outputs.out.path) for a in ctx.attr.args],
        outputs = [ctx.outputs.out],
    )
    return [DefaultInfo(files = depset([ctx.outputs.out]))]

run_tool = rule(
    implementation = _run_tool_impl,
    attrs = {
        "args": attr.string_list(),
        "out": attr.output(),
        "tool": attr.label(executable = True, cfg = "exec"),
    },
)
`,
};

const TARGETS = ["//:hello_out", "//:greet_out", "//:linked_out", "//:count_out", "//:store_view", "//:ran_by_rule"];
const TESTS = ["//:hello_test", "//:greet_test", "//:linked_test", "//:count_test"];

interface Mode {
  name: string;
  flags: string[];
  /** Whether the launcher must map the closure itself (no mount pair in effect). */
  mapped: boolean;
}

const MOUNT_PAIR_MODE: Mode = { name: "linux-sandbox with the generated mount pair", flags: ["--spawn_strategy=linux-sandbox"], mapped: false };
const MAPPED_MODES: Mode[] = [
  { name: "linux-sandbox without the mount pair", flags: ["--spawn_strategy=linux-sandbox"], mapped: true },
  { name: "linux-sandbox with /nix hidden (tmpfs)", flags: ["--spawn_strategy=linux-sandbox", "--sandbox_tmpfs_path=/nix"], mapped: true },
  { name: "--spawn_strategy=local", flags: ["--spawn_strategy=local"], mapped: true },
];

async function buildAndTest(ws: Workspace, mode: Mode): Promise<void> {
  // Strategies are not part of action keys: start from an empty action cache each time.
  await ws.bazel(["clean"]);
  const result = await ws.bazel(["test", ...mode.flags, "--test_output=errors", ...TARGETS, ...TESTS]);
  expect(result.exitCode, explain(result)).toBe(0);
  expect(ws.bin("hello.txt")).toBe("hello from nix\n");
  expect(ws.bin("greet.txt")).toBe("greet from nix two words $HOME\n");
  expect(ws.bin("linked.txt")).toBe("hello from nix\nlinked data\nlinked self data\n");
  expect(ws.bin("count.txt")).toBe("5120\n");
  expect(ws.bin("ran_by_rule.txt")).toBe("from ctx.actions.run\n");
  const [mountLine, uid, writable] = ws.bin("store_view.txt").trim().split("\n");
  expect(uid).toBe(String(process.getuid?.()));
  expect(writable).toBe("read-only");
  if (mode.mapped) {
    // The launcher's own read-only tmpfs, holding the closure's entries bound from the store the
    // busybox repository's layout links into (so a program that resolves its own path stays in
    // /nix/store).
    expect(mountLine).toMatch(/ \/nix\/store ro,\S* - tmpfs nixstore ro,/);
  } else {
    // Bazel's mount pair: the whole chroot store under the output base.
    expect(mountLine).toMatch(/\/nixstore\/nix\/store \/nix\/store ro,/);
  }
}

describe.each(FLAVORS)("fixture packages on one machine, $title", (flavor) => {
  let ws: Workspace;
  const mountTarget = hasMountTarget(flavor);
  // What the machine's store held before this suite (a developer's real Nix store may hold anything).
  const hostStoreBefore = new Set(hostStoreEntries(flavor));

  beforeAll(async () => {
    ws = await makeWorkspace(flavor, {
      packages: ["hello", "greet", "linked", "manyfiles", "busybox"].map((name) => ({ name })),
      build: BUILD(flavor),
      files: FILES,
      mountPair: mountTarget,
    });
    const fetch = await ws.bazel(["build", "--nobuild", ...TARGETS, ...TESTS]);
    expect(fetch.exitCode, explain(fetch)).toBe(0);
  });

  afterAll(async () => {
    await ws?.close();
  });

  test.runIf(mountTarget)("run under linux-sandbox with the generated mount pair", async () => {
    await buildAndTest(ws, MOUNT_PAIR_MODE);
  });

  test.each(MAPPED_MODES)("run under $name: the launcher maps the closure", async (mode) => {
    await ws.writeBazelrc(false);
    try {
      await buildAndTest(ws, mode);
    } finally {
      await ws.writeBazelrc(mountTarget);
    }
  });

  test("negative control: the raw store binary fails when nothing maps /nix/store", async () => {
    await ws.writeBazelrc(false);
    try {
      await ws.bazel(["clean"]);
      const result = await ws.bazel(["build", "--spawn_strategy=linux-sandbox", "//:raw_hello"]);
      expect(result.exitCode, explain(result)).not.toBe(0);
      // the ELF interpreter /nix/store/...-glibc/lib/ld-linux-x86-64.so.2 is missing
      expect(result.all).toMatch(/raw_hello[\s\S]*(No such file or directory|not found)/);
    } finally {
      await ws.writeBazelrc(mountTarget);
    }
    if (mountTarget) {
      // ...and the same command works where the mount pair shows the store.
      await ws.bazel(["clean"]);
      const ok = await ws.bazel(["build", "--spawn_strategy=linux-sandbox", "//:raw_hello"]);
      expect(ok.exitCode, explain(ok)).toBe(0);
      expect(ws.bin("raw_hello.txt")).toBe("hello from nix\n");
    }
  });

  test("the host's /nix/store gains nothing, and none of the fixture", () => {
    const fixture = ["hello", "greet", "linked", "manyfiles", "busybox"].flatMap((r) => closureEntries(ws, r));
    expect(fixture.length).toBeGreaterThanOrEqual(8);
    const added = hostStoreEntries(flavor).filter((e) => !hostStoreBefore.has(e));
    expect(added).toEqual([]);
    // On a machine whose /nix/store started without them (CI: an empty mount target), the
    // fixture's paths must not be there at all.
    const host = new Set(hostStoreEntries(flavor));
    expect(fixture.filter((e) => host.has(e) && !hostStoreBefore.has(e))).toEqual([]);
    if (hostStoreBefore.size === 0) expect(fixture.filter((e) => host.has(e))).toEqual([]);
  });

  test("a launcher is _nixstore/enter itself (no shell script), beside the data file naming its program", async () => {
    const b = await ws.bazel(["build", "@hello//:bin/hello"]);
    expect(b.exitCode, explain(b)).toBe(0);
    const launcher = join(ws.dir, "bazel-bin", ws.execPath("hello"), "_nixstore/bin/hello");
    const bytes = readFileSync(launcher);
    expect(bytes.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
    expect(bytes.equals(readFileSync(join(ws.repoDir("hello"), "_nixstore/enter")))).toBe(true);
    const hello = closureEntries(ws, "hello").find((e) => e.endsWith("-hello"));
    const data = readFileSync(`${launcher}${LAUNCH_SUFFIX}`, "utf8").split("\n");
    expect(data.filter((l) => !l.startsWith("#"))).toEqual([
      `program=/nix/store/${hello}/bin/hello`,
      `runfiles_repo=${flavor.canonical("hello")}`,
      `exec_repo=${ws.execPath("hello")}`,
      "",
    ]);
  });

  test("a package repository carries its whole closure, absolute symlinks resolved inside it", async () => {
    expect(closureEntries(ws, "hello").length).toBeGreaterThanOrEqual(3);
    const q = await ws.bazel(["query", "labels(srcs, @linked//:closure)", "--output=label"]);
    expect(q.exitCode, explain(q)).toBe(0);
    // share/greet is an absolute symlink to another store path: its file must be listed.
    expect(q.stdout).toMatch(/-linked\/share\/greet\/message\.txt/);
    expect(q.stdout).toMatch(/-linked\/bin\/hello/);
    const files = String(q.stdout).split("\n").filter((l) => l.includes(":nix/store/"));
    const many = await ws.bazel(["query", "labels(srcs, @manyfiles//:closure)", "--output=label"]);
    expect(String(many.stdout).split("\n").filter((l) => l.includes("/share/many/")).length).toBe(5120);
    expect(files.length).toBeGreaterThan(0);
  });
});
