// Remote execution on a real Buildbarn cluster on loopback (test/buildbarn): its runner executes
// actions as an unprivileged user, in a root where /nix does not exist, and cannot read the
// client's output base. Nothing of Nix is installed for it: the closures travel as inputs.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { statSync } from "node:fs";
import { join } from "node:path";
import { EXPECT_OUTPUT_SH, REPO_ROOT, closureEntries, explain, makeWorkspace, type Workspace } from "./harness.js";

const PACKAGES = ["hello", "greet", "linked", "busybox"].map((name) => ({ name }));

const BUILD = `
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
    cmd = "$(location @greet//:bin/greet) 'two words' > $@",
)

genrule(
    name = "linked_out",
    outs = ["linked.txt"],
    tools = ["@linked//:bin/hello"],
    srcs = ["@linked//:share/greet/message.txt"],
    cmd = "$(location @linked//:bin/hello) > $@ && cat $(location @linked//:share/greet/message.txt) >> $@",
)

# Where the action ran: its user, whether /nix exists outside the launcher, and how /nix/store
# looks to a program run through a launcher.
genrule(
    name = "worker_view",
    outs = ["worker_view.txt"],
    tools = ["@busybox//:bin/sh"],
    cmd = "(id -u; test -e /nix && echo nix-present || echo nix-absent; $(location @busybox//:bin/sh) -c 'grep \\" /nix/store \\" /proc/self/mountinfo') > $@",
)

# buildifier: disable=native-sh-test
sh_test(
    name = "hello_test",
    srcs = ["expect_output.sh"],
    data = ["@hello//:bin/hello"],
    args = ["'hello from nix'", "$(rootpath @hello//:bin/hello)"],
)

# buildifier: disable=native-sh-test
sh_test(
    name = "greet_test",
    srcs = ["expect_output.sh"],
    data = ["@greet//:bin/greet"],
    args = ["'greet from nix a b'", "$(rootpath @greet//:bin/greet)", "a", "b"],
)
`;

const TARGETS = ["//:hello_out", "//:greet_out", "//:linked_out", "//:worker_view", "//:hello_test", "//:greet_test"];

let endpoint = "";
const remoteFlags = () => [
  `--remote_executor=${endpoint}`,
  "--remote_instance_name=nixstore",
  "--spawn_strategy=remote",
  "--remote_local_fallback=false",
  "--test_output=errors",
];

function processes(all: string | undefined): string {
  return /INFO: (\d+ processes?[^\n]*)/.exec(all ?? "")?.[1] ?? "";
}

// up.sh creates the runner's user and a mount namespace: it needs root (CI runs as root).
describe.runIf(process.getuid?.() === 0)("remote execution on Buildbarn (workers without Nix)", () => {
  const workspaces: Workspace[] = [];
  async function workspace(): Promise<Workspace> {
    const ws = await makeWorkspace({ packages: PACKAGES, build: BUILD, files: { "expect_output.sh": EXPECT_OUTPUT_SH } });
    workspaces.push(ws);
    return ws;
  }

  let startedHere = false;
  beforeAll(async () => {
    // The frontend's diagnostics port answers when a cluster is already up; leave that one running.
    const health = await execa("curl", ["-fsS", "--max-time", "2", "http://127.0.0.1:9980/-/healthy"], { reject: false });
    startedHere = health.exitCode !== 0;
    // Builds Buildbarn from the Go module proxy on first use (a few minutes), then starts it.
    const up = await execa("bash", [join(REPO_ROOT, "test/buildbarn/up.sh")], { all: true, reject: false });
    expect(up.exitCode, `buildbarn:up failed (logs: /tmp/rules_nixstore-buildbarn/logs)\n${up.all}`).toBe(0);
    endpoint = up.stdout.trim().split("\n").pop() ?? "";
    expect(endpoint).toMatch(/^grpc:\/\/127\.0\.0\.1:\d+$/);
  });
  afterAll(async () => {
    for (const ws of workspaces) await ws.close();
    if (startedHere) await execa("bash", [join(REPO_ROOT, "test/buildbarn/down.sh")], { reject: false });
  });

  test("fixture packages run in genrules and sh_tests on the worker, from a fresh output base", async () => {
    const ws = await workspace();
    // The runner's user cannot reach the client's output base (mkdtemp: 0700, owned by us), so
    // nothing can come from there but the inputs Bazel sends.
    expect(statSync(ws.root).mode & 0o077).toBe(0);
    // The cluster's cache outlives restarts: refuse cached results so that every action runs.
    const r = await ws.bazel(["test", ...remoteFlags(), "--noremote_accept_cached", ...TARGETS]);
    expect(r.exitCode, `${explain(r)}\n(cluster logs: /tmp/rules_nixstore-buildbarn/logs)`).toBe(0);
    expect(processes(r.all)).toMatch(/\d+ remote(,|\.|$)/);
    expect(processes(r.all)).not.toMatch(/cache hit/);
    expect(processes(r.all)).not.toMatch(/linux-sandbox|local|processwrapper/);
    expect(ws.bin("hello.txt")).toBe("hello from nix\n");
    expect(ws.bin("greet.txt")).toBe("greet from nix two words\n");
    expect(ws.bin("linked.txt")).toBe("hello from nix\nlinked data\n");
    const [uid, nix, mount] = ws.bin("worker_view.txt").trim().split("\n");
    // An unprivileged runner user, with no /nix: the launcher mapped the closure itself.
    expect(uid).not.toBe("0");
    expect(uid).not.toBe(String(process.getuid?.()));
    expect(nix).toBe("nix-absent");
    expect(mount).toMatch(/ \/nix\/store ro,/);
  });

  test("workers whose /nix exists but is empty run them too", async () => {
    const ws = workspaces[0]!;
    const up = (nix: string) =>
      execa("bash", [join(REPO_ROOT, "test/buildbarn/up.sh")], { all: true, reject: false, env: { NIXSTORE_BB_NIX: nix } });
    const empty = await up("empty");
    expect(empty.exitCode, empty.all).toBe(0);
    try {
      await ws.bazel(["clean"]);
      const r = await ws.bazel(["build", ...remoteFlags(), "--noremote_accept_cached", "//:worker_view", "//:hello_out"]);
      expect(r.exitCode, explain(r)).toBe(0);
      expect(processes(r.all)).toMatch(/\d+ remote(,|\.|$)/);
      const [uid, nix, mount] = ws.bin("worker_view.txt").trim().split("\n");
      expect(uid).not.toBe("0");
      expect(nix).toBe("nix-present");
      expect(mount).toMatch(/ \/nix\/store ro,/);
      expect(ws.bin("hello.txt")).toBe("hello from nix\n");
    } finally {
      const back = await up("absent");
      expect(back.exitCode, back.all).toBe(0);
    }
  });

  test("negative control: a store path called by its absolute name fails on the worker", async () => {
    const ws = workspaces[0]!;
    const hello = closureEntries(ws, "hello").find((e) => e.endsWith("-hello"));
    expect(hello).toBeDefined();
    // What rules_nixpkgs' symlinks resolve to: the absolute /nix/store path.
    ws.write("absolute/BUILD.bazel", `genrule(name = "abs", outs = ["abs.txt"], cmd = "/nix/store/${hello}/bin/hello > $@")\n`);
    const r = await ws.bazel(["build", ...remoteFlags(), "//absolute:abs"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toMatch(/\/nix\/store\/[^\s]*-hello\/bin\/hello: (No such file or directory|not found)/);
  });

  test("changing a package's derivation changes the keys of the actions that use it", async () => {
    const ws = workspaces[0]!;
    const before = closureEntries(ws, "hello").find((e) => e.endsWith("-hello"));
    // elf/hello.sh writes the hello ELF: a comment there changes the derivation, not the output.
    ws.write("nixpkgs/elf/hello.sh", ws.read("nixpkgs/elf/hello.sh") + "\n# changed by remote.test.ts\n");
    try {
      const r = await ws.bazel(["build", ...remoteFlags(), "//:hello_out", "//:greet_out"]);
      expect(r.exitCode, explain(r)).toBe(0);
      const after = closureEntries(ws, "hello").find((e) => e.endsWith("-hello"));
      expect(after).not.toBe(before);
      // hello_out ran again on the worker; greet_out (untouched package) did not run at all.
      expect(processes(r.all)).toMatch(/\b1 remote(,|\.|$)/);
      expect(ws.bin("hello.txt")).toBe("hello from nix\n");
    } finally {
      ws.write("nixpkgs/elf/hello.sh", ws.read("nixpkgs/elf/hello.sh").replace("\n# changed by remote.test.ts\n", ""));
    }
  });

  test("a second client with a fresh output base gets remote cache hits for every action", async () => {
    const ws = await workspace();
    const r = await ws.bazel(["build", ...remoteFlags(), "//:hello_out", "//:greet_out", "//:linked_out", "//:worker_view"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(processes(r.all)).toMatch(/4 remote cache hit/);
    expect(processes(r.all)).not.toMatch(/\d+ remote[,.]/);
    expect(ws.bin("hello.txt")).toBe("hello from nix\n");
  });
});
