// Remote execution on the FUSE worker variant of the loopback Buildbarn cluster
// (test/buildbarn/up.sh with NIXSTORE_BB_WORKER=fuse): bb_worker serves each action's input root
// from a FUSE file system that fetches file contents from the CAS on first read, instead of
// hardlinking every input into a directory. The runner stays unprivileged and without /nix, so
// a package's launcher must still map the closure itself, here from files on that FUSE mount.
// The suite holds the shared cluster on the variant and gives it back with up.sh's defaults.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DIAG, LOGS, endpointOf, isUp, metric, release, up } from "./buildbarn.js";
import { EXPECT_OUTPUT_SH, FLAVORS, explain, makeWorkspace, processes, type Workspace } from "./harness.js";

const PACKAGES = ["hello", "greet", "manyfiles", "busybox"].map((name) => ({ name }));

const BUILD = `
genrule(
    name = "greet_out",
    outs = ["greet.txt"],
    tools = ["@greet//:bin/greet"],
    cmd = "$(location @greet//:bin/greet) 'two words' > $@",
)

# The 5,120-file closure: count-files lists every file of it through the mapped /nix/store.
genrule(
    name = "many_out",
    outs = ["many.txt"],
    tools = ["@manyfiles//:bin/count-files"],
    cmd = "$(location @manyfiles//:bin/count-files) > $@",
)

# Where the action ran: its user, /nix outside the launcher, the file system of its input root,
# and how /nix/store looks to a program run through a launcher.
genrule(
    name = "worker_view",
    outs = ["worker_view.txt"],
    tools = ["@busybox//:bin/sh"],
    cmd = "(id -u; test -e /nix && echo nix-present || echo nix-absent; grep \\" $$(stat -c %m .) \\" /proc/self/mountinfo; $(location @busybox//:bin/sh) -c 'grep \\" /nix/store \\" /proc/self/mountinfo') > $@",
)

# buildifier: disable=native-sh-test
sh_test(
    name = "hello_test",
    srcs = ["expect_output.sh"],
    data = ["@hello//:bin/hello"],
    args = ["'hello from nix'", "$(rootpath @hello//:bin/hello)"],
)
`;

// up.sh needs root, like remote.test.ts.
describe.runIf(process.getuid?.() === 0).each(FLAVORS)("remote execution on a FUSE Buildbarn worker, $title", (flavor) => {
  let ws: Workspace | undefined;
  let endpoint = "";
  let startedHere = false;

  beforeAll(async () => {
    startedHere = !(await isUp());
    const started = await up({ worker: "fuse" });
    expect(started.exitCode, `buildbarn:up (fuse) failed (logs: ${LOGS})\n${started.all}`).toBe(0);
    endpoint = endpointOf(started);
    ws = await makeWorkspace(flavor, { packages: PACKAGES, build: BUILD, files: { "expect_output.sh": EXPECT_OUTPUT_SH } });
  });
  afterAll(async () => {
    await ws?.close();
    const back = await release(startedHere);
    expect(back.exitCode, String(back.all)).toBe(0);
  });

  test("launchers map their closures from the FUSE input root; outputs and tests come back", async () => {
    const w = ws!;
    const inputsBefore = await metric(DIAG.worker, "buildbarn_builder_build_executor_duration_seconds_count", { stage: "FetchingInputs" });
    const r = await w.bazel([
      "test",
      `--remote_executor=${endpoint}`,
      "--remote_instance_name=nixstore",
      "--spawn_strategy=remote",
      "--remote_local_fallback=false",
      "--test_output=errors",
      "--noremote_accept_cached",
      "//:greet_out",
      "//:many_out",
      "//:worker_view",
      "//:hello_test",
    ]);
    expect(r.exitCode, `${explain(r)}\n(cluster logs: ${LOGS})`).toBe(0);
    // 3 genrules and the test (and, on Bazel 4.2.3, its test.xml), all run remotely.
    const remote = Number(/\b(\d+) remote(,|\.|$)/.exec(processes(r.all))?.[1]);
    expect(remote).toBeGreaterThanOrEqual(4);
    expect(processes(r.all)).not.toMatch(/linux-sandbox|local|processwrapper|cache hit/);
    expect(w.bin("greet.txt")).toBe("greet from nix two words\n");
    expect(w.bin("many.txt")).toBe("5120\n");
    const [uid, nix, inputRoot, store] = w.bin("worker_view.txt").trim().split("\n");
    expect(uid).not.toBe("0");
    expect(nix).toBe("nix-absent");
    // The action's working directory is on bb_worker's FUSE mount, and the launcher bound the
    // closure read-only on /nix/store from there.
    expect(inputRoot).toMatch(/ - fuse\.\S+ bb_worker /);
    expect(store).toMatch(/ \/nix\/store ro,.* - fuse\.\S+ bb_worker /);
    // Every one of them went through this worker (its stage metrics count them).
    const inputs = (await metric(DIAG.worker, "buildbarn_builder_build_executor_duration_seconds_count", { stage: "FetchingInputs" })) - inputsBefore;
    expect(inputs).toBeGreaterThanOrEqual(remote);
  });
});
