// Remote execution on a real Buildbarn cluster on loopback (test/buildbarn): its runner executes
// actions as an unprivileged user, in a root where /nix does not exist, and cannot read the
// client's output base. Nothing of Nix is installed for it: the closures travel as inputs.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  LOGS,
  TEST_WORKER,
  casBytesUploaded,
  executionCalls,
  killWorker,
  leaseCluster,
  schedulerTaskRetries,
  up,
  type ClusterLease,
  type ClusterVariant,
} from "./buildbarn.js";
import {
  BAZEL4,
  EXPECT_OUTPUT_SH,
  FLAVORS,
  closureEntries,
  copyExample,
  explain,
  makeWorkspace,
  nixgenBazelrc,
  processes,
  type Workspace,
} from "./harness.js";


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

// up.sh creates the runner's user and a mount namespace: it needs root (CI runs as root).
describe.runIf(process.getuid?.() === 0).each(FLAVORS)("remote execution on Buildbarn (workers without Nix), $title", (flavor) => {
  const workspaces: Workspace[] = [];
  async function workspace(): Promise<Workspace> {
    const ws = await makeWorkspace(flavor, { packages: PACKAGES, build: BUILD, files: { "expect_output.sh": EXPECT_OUTPUT_SH } });
    workspaces.push(ws);
    return ws;
  }

  /** Runs `body` on a variant of the cluster, then starts the default cluster again. */
  async function onVariant(variant: ClusterVariant, body: () => Promise<void>): Promise<void> {
    const started = await up(variant);
    expect(started.exitCode, String(started.all)).toBe(0);
    try {
      await body();
    } finally {
      const back = await up();
      expect(back.exitCode, String(back.all)).toBe(0);
    }
  }

  let cluster: ClusterLease | undefined;
  beforeAll(async () => {
    cluster = await leaseCluster();
    endpoint = cluster.endpoint;
  });
  afterAll(async () => {
    for (const ws of workspaces) await ws.close();
    await cluster?.release();
  });

  test("fixture packages run in genrules and sh_tests on the worker, from a fresh output base", async () => {
    const ws = await workspace();
    // The runner's user cannot reach the client's output base (mkdtemp: 0700, owned by us), so
    // nothing can come from there but the inputs Bazel sends.
    expect(statSync(ws.root).mode & 0o077).toBe(0);
    // The cluster's cache outlives restarts: refuse cached results so that every action runs.
    const r = await ws.bazel(["test", ...remoteFlags(), "--noremote_accept_cached", ...TARGETS]);
    expect(r.exitCode, `${explain(r)}\n(cluster logs: ${LOGS})`).toBe(0);
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
    // Bound from the action's input root: on a FUSE worker, a file of bb_worker's FUSE mount.
    if (TEST_WORKER === "fuse") expect(mount).toMatch(/ - fuse\.\S+ bb_worker /);
    else expect(mount).not.toMatch(/ - fuse/);
  });

  test("workers whose /nix exists but is empty run them too", async () => {
    const ws = workspaces[0]!;
    await onVariant({ nix: "empty" }, async () => {
      await ws.bazel(["clean"]);
      const r = await ws.bazel(["build", ...remoteFlags(), "--noremote_accept_cached", "//:worker_view", "//:hello_out"]);
      expect(r.exitCode, explain(r)).toBe(0);
      expect(processes(r.all)).toMatch(/\d+ remote(,|\.|$)/);
      const [uid, nix, mount] = ws.bin("worker_view.txt").trim().split("\n");
      expect(uid).not.toBe("0");
      expect(nix).toBe("nix-present");
      expect(mount).toMatch(/ \/nix\/store ro,/);
      expect(ws.bin("hello.txt")).toBe("hello from nix\n");
    });
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
    // A change no earlier run made: the cluster's cache outlives test runs.
    const change = `\n# changed by remote.test.ts ${process.pid}-${Date.now()}\n`;
    ws.write("nixpkgs/elf/hello.sh", ws.read("nixpkgs/elf/hello.sh") + change);
    try {
      const r = await ws.bazel(["build", ...remoteFlags(), "//:hello_out", "//:greet_out"]);
      expect(r.exitCode, explain(r)).toBe(0);
      const after = closureEntries(ws, "hello").find((e) => e.endsWith("-hello"));
      expect(after).not.toBe(before);
      // hello_out ran again on the worker; greet_out (untouched package) was not executed (at
      // most a remote cache hit, as an earlier test cleaned the output tree).
      expect(processes(r.all)).toMatch(/\b1 remote(,|\.|$)/);
      expect(ws.bin("hello.txt")).toBe("hello from nix\n");
    } finally {
      ws.write("nixpkgs/elf/hello.sh", ws.read("nixpkgs/elf/hello.sh").replace(change, ""));
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

  test("a second client uploads none of the closure bytes the cluster already has", async () => {
    const ws = await workspace();
    // A command no one ran before: the action executes (no cache hit), with the closures of
    // three packages as inputs that the first client already uploaded.
    const nonce = `${process.pid}-${Date.now()}`;
    ws.write(
      "fresh/BUILD.bazel",
      `genrule(
    name = "fresh",
    outs = ["fresh.txt"],
    tools = ["@hello//:bin/hello", "@greet//:bin/greet", "@linked//:bin/hello"],
    cmd = "($(location @hello//:bin/hello); $(location @greet//:bin/greet) ${nonce}) > $@",
)
`,
    );
    const fetched = await ws.bazel(["build", "--nobuild", ...remoteFlags(), "//fresh"]);
    expect(fetched.exitCode, explain(fetched)).toBe(0);
    const before = await casBytesUploaded();
    const r = await ws.bazel(["build", ...remoteFlags(), "//fresh"]);
    expect(r.exitCode, explain(r)).toBe(0);
    const uploaded = (await casBytesUploaded()) - before;
    expect(processes(r.all)).toMatch(/\b1 remote(,|\.|$)/);
    expect(ws.bin("fresh/fresh.txt")).toBe(`hello from nix\ngreet from nix ${nonce}\n`);
    // What the closures weigh: every store path of the three packages, counted once.
    const paths = new Set(["hello", "greet", "linked"].flatMap((p) => closureEntries(ws, p)));
    const du = await execa("du", ["-sbc", ...[...paths].map((p) => join(ws.outputBase, "nixstore/nix/store", p))]);
    const closureBytes = Number(/^(\d+)\s+total$/m.exec(du.stdout)?.[1]);
    expect(closureBytes).toBeGreaterThan(1_000_000);
    // Only the new Action, Command and the directories that hold the new command line.
    console.log(`second client: ${uploaded} bytes uploaded to the CAS; closures: ${closureBytes} bytes`);
    expect(uploaded).toBeLessThan(16 * 1024);
  });

  test("killing bb_worker in the middle of a build: the build still finishes, with correct outputs", async () => {
    const ws = workspaces[0]!;
    const N = 16;
    const nonce = `${process.pid}-${Date.now()}`;
    const rules = Array.from(
      { length: N },
      (_, i) => `genrule(
    name = "m${i}",
    outs = ["m${i}.txt"],
    tools = ["@hello//:bin/hello"],
    cmd = "$(location @hello//:bin/hello) > $@ && echo ${i} ${nonce} >> $@ && sleep 2",
)
`,
    );
    ws.write("many/BUILD.bazel", rules.join("\n") + `filegroup(name = "all", srcs = [${rules.map((_, i) => `":m${i}"`).join(", ")}])\n`);
    const flags = [...remoteFlags(), "--jobs=8"];
    const fetched = await ws.bazel(["build", "--nobuild", ...flags, "//many:all"]);
    expect(fetched.exitCode, explain(fetched)).toBe(0);
    const executeBefore = await executionCalls("Execute");
    const waitBefore = await executionCalls("WaitExecution");
    const retriesBefore = await schedulerTaskRetries();
    const build = ws.bazel(["build", ...flags, "//many:all"]);
    // Kill the worker once a few actions are under way (each sleeps 2 s on the worker).
    const deadline = Date.now() + 120_000;
    while ((await executionCalls("Execute")) - executeBefore < 4) {
      expect(Date.now(), "Bazel never sent 4 Execute calls").toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 1000));
    killWorker();
    await new Promise((r) => setTimeout(r, 3000));
    const restarted = await up();
    expect(restarted.exitCode, String(restarted.all)).toBe(0);
    expect(restarted.all).toContain("bb_worker is not running: starting it again");
    const r = await build;
    expect(r.exitCode, `${explain(r)}\n(cluster logs: ${LOGS})`).toBe(0);
    for (let i = 0; i < N; i++) expect(ws.bin(`many/m${i}.txt`)).toBe(`hello from nix\n${i} ${nonce}\n`);
    // Who recovered. The scheduler ran the interrupted tasks again once the worker came back
    // (its retry count went up); Bazel's Execute streams stayed open: one Execute per action
    // and no WaitExecution, i.e. Bazel retried nothing and no rerun was needed.
    const executes = (await executionCalls("Execute")) - executeBefore;
    const waits = (await executionCalls("WaitExecution")) - waitBefore;
    const retries = (await schedulerTaskRetries()) - retriesBefore;
    console.log(
      `worker killed mid-build: ${N} actions, ${executes} Execute and ${waits} WaitExecution calls, ` +
        `${retries} task(s) run again by the scheduler`,
    );
    expect(retries).toBeGreaterThanOrEqual(1);
    expect(executes).toBe(N);
    expect(waits).toBe(0);
  });

  test("a worker that refuses user namespaces: the action fails with the launcher's explanation", async () => {
    const ws = workspaces[0]!;
    await onVariant({ userns: "refused" }, async () => {
      await ws.bazel(["clean"]);
      const r = await ws.bazel(["build", ...remoteFlags(), "--noremote_accept_cached", "//:hello_out"]);
      expect(r.exitCode).not.toBe(0);
      // The action's stderr, as Bazel prints it for a failed action.
      expect(r.all).toContain("rules_nixstore launcher: cannot run /nix/store/");
      expect(r.all).toContain("unshare(CLONE_NEWUSER|CLONE_NEWNS): Operation not permitted");
      expect(r.all).toMatch(/fix: .*user namespaces/);
      expect(r.all).toContain("check a machine with: unshare --user --map-root-user --mount true");
      // nixgen doctor --remote tells the same before a long build fails.
      const doctor = await ws.nixgen(["doctor", "--json", "--remote", "--executor", endpoint, "--instance-name", "nixstore"]);
      expect(doctor.exitCode).toBe(1);
      const remoteCheck = (JSON.parse(String(doctor.stdout)) as { checks: Array<Record<string, string>> }).checks.find((c) => c.id === "remote");
      expect(remoteCheck?.status).toBe("fail");
      expect(remoteCheck?.summary).toMatch(/the launcher could not map \/nix\/store in a probe action/);
      expect(remoteCheck?.detail).toContain("unshare(CLONE_NEWUSER|CLONE_NEWNS): Operation not permitted");
    });
  });

  // The example is a WORKSPACE workspace: Bazel 4.2.3.
  test.runIf(flavor === BAZEL4)("examples/remote-buildbarn: bazel test --config=nixstore-remote //... from a fresh output base", async () => {
    const root = mkdtempSync(join(tmpdir(), "nixstore-example-remote-"));
    const ws = join(root, "ws");
    const ob = join(root, "ob");
    const bazel = (args: string[]) =>
      execa("bazel", [`--output_base=${ob}`, ...args], { cwd: ws, reject: false, all: true, stdin: "ignore" });
    try {
      copyExample("remote-buildbarn", ws);
      // The committed config names the loopback cluster this suite started.
      expect(readFileSync(join(ws, "nixstore/nixstore.bazelrc"), "utf8")).toContain(`--remote_executor=${endpoint}`);
      await nixgenBazelrc(ws, ob);
      const r = await bazel(["test", "--config=nixstore-remote", "--noremote_accept_cached", "//..."]);
      expect(r.exitCode, `${explain(r)}\n(cluster logs: ${LOGS})`).toBe(0);
      expect(processes(r.all)).toMatch(/\b4 remote(,|\.|$)/);
      expect(readFileSync(join(ws, "bazel-bin/greeting.txt"), "utf8")).toBe(
        "hello from nix\ngreet from nix from a genrule\nlinked data\n",
      );
      const view = readFileSync(join(ws, "bazel-bin/worker_view.txt"), "utf8");
      expect(view).toMatch(/^uid: (?!0\n)\d+\n/);
      expect(view).toContain("worker /nix: absent\n");
      expect(view).toMatch(/ \/nix\/store ro,/);
    } finally {
      await bazel(["shutdown"]);
      await execa("rm", ["-rf", root], { reject: false });
    }
  });
});
