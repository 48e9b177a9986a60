// One team, one cache: two developers' machines, simulated on this one as two clients that differ
// as developers' machines do — workspace directory, output base, user, home directory, where
// rules_nixstore is checked out, and the C compilers on PATH (the first has a different `cc`
// first on PATH, the second none at all) — build the same targets against the loopback
// Buildbarn cluster. The second must get a remote cache hit for every action (each runs a Nix
// tool) and upload no closure bytes; their execution logs must show the same inputs for every
// action, and a failure names each input that differs. Client 1 runs as root, client 2 as an
// unprivileged user of its own. Both use the C/C++ toolchain from Nix (nixpkgs_cc_configure):
// its compile, archive and link actions and the cc_test must be cache hits too.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa, type Result } from "execa";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOGS, casBytesUploaded, leaseCluster, type ClusterLease } from "./buildbarn.js";
import { CC_BUILD, CC_TARGETS, ccFiles } from "./cc-support.js";
import {
  EXPECT_OUTPUT_SH,
  FLAVORS,
  ccFlags,
  NIXGEN,
  REPO_ROOT,
  copyFixture,
  declarations,
  explain,
  parseExecutionLog,
  processes,
  run,
  type Flavor,
  type PackageSpec,
  type Spawn,
} from "./harness.js";

const DEV2 = "nixstore-dev2";
const PACKAGES: PackageSpec[] = ["hello", "greet", "linked"].map((name) => ({ name }));

/** Targets whose every action runs a Nix tool; the nonce makes them new to the cluster's cache. */
function build(nonce: string): string {
  return `
genrule(
    name = "hello_out",
    outs = ["hello.txt"],
    tools = ["@hello//:bin/hello"],
    cmd = "$(location @hello//:bin/hello) > $@ && echo ${nonce} >> $@",
)

genrule(
    name = "greet_out",
    outs = ["greet.txt"],
    tools = ["@greet//:bin/greet"],
    cmd = "$(location @greet//:bin/greet) ${nonce} > $@",
)

genrule(
    name = "linked_out",
    outs = ["linked.txt"],
    srcs = ["@linked//:share/greet/message.txt"],
    tools = ["@linked//:bin/hello"],
    cmd = "$(location @linked//:bin/hello) > $@ && cat $(location @linked//:share/greet/message.txt) >> $@ && echo ${nonce} >> $@",
)

# buildifier: disable=native-sh-test
sh_test(
    name = "greet_test",
    srcs = ["expect_output.sh"],
    data = ["@greet//:bin/greet"],
    args = ["'greet from nix ${nonce}'", "$(rootpath @greet//:bin/greet)", "${nonce}"],
)
`;
}
const TARGETS = ["//:hello_out", "//:greet_out", "//:linked_out", "//:greet_test", ...CC_TARGETS];

const cacheHit = (s: Spawn) => s.remoteCacheHit ?? s.cacheHit ?? false;

/** What makes a spawn's remote cache key, keyed by its outputs: inputs, environment, argv. */
function keyParts(spawn: Spawn): Map<string, string> {
  const parts = new Map<string, string>();
  for (const input of spawn.inputs ?? []) parts.set(`input ${input.path}`, input.digest?.hash ?? "(directory)");
  for (const env of spawn.environmentVariables ?? []) parts.set(`env ${env.name}`, env.value);
  parts.set("argv", JSON.stringify(spawn.commandArgs ?? []));
  if (spawn.digest) parts.set("action digest", spawn.digest.hash);
  return parts;
}

/** Every key part that differs between the two clients' spawns of the same outputs. */
function differences(one: Spawn[], two: Spawn[]): string[] {
  const byOutputs = new Map(two.map((s) => [JSON.stringify(s.listedOutputs ?? []), s]));
  const diffs: string[] = [];
  for (const spawn of one) {
    const outputs = JSON.stringify(spawn.listedOutputs ?? []);
    const other = byOutputs.get(outputs);
    if (!other) {
      diffs.push(`${spawn.mnemonic} ${outputs}: not run by the second client`);
      continue;
    }
    const [a, b] = [keyParts(spawn), keyParts(other)];
    for (const key of new Set([...a.keys(), ...b.keys()])) {
      if (a.get(key) !== b.get(key)) diffs.push(`${spawn.mnemonic} ${outputs}: ${key}: ${a.get(key)} vs ${b.get(key)}`);
    }
  }
  return diffs;
}

/** A directory of links to every command of the machine's /usr/bin but the C compilers. */
function binWithoutCc(flavor: Flavor, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const compiler = /^(cc|c89|c99|gcc|g\+\+|c\+\+|clang|tcc|cpp)(-[\d.]+)?$|-gcc(-[\d.]+)?$|-cc$/;
  for (const f of readdirSync(join(flavor.rootDir || "/", "usr/bin"))) {
    if (!compiler.test(f)) symlinkSync(join("/usr/bin", f), join(dir, f));
  }
  return dir;
}

/** A `cc` that is another compiler than the machine's: the same gcc with other code generation. */
function otherCc(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "cc"), '#!/bin/sh\nexec /usr/bin/gcc "$@" -O0 -fno-inline\n', { mode: 0o755 });
  return dir;
}

interface Client {
  name: string;
  ws: string;
  ob: string;
  home: string;
  /** PATH of Bazel's client and of the repository rules. */
  path: string;
  /** argv prefix that runs a command as this client's user. */
  as: string[];
}

describe.runIf(process.getuid?.() === 0).each(FLAVORS)("one team, one cache: two developers' machines, $title", (flavor) => {
  let endpoint = "";
  let cluster: ClusterLease | undefined;
  let tmp = "";
  const clients: Client[] = [];
  const nonce = `${process.pid}-${Date.now()}`;

  /** Runs Bazel as the client, in its workspace, with its HOME and PATH. */
  function bazel(client: Client, args: string[]): Promise<Result> {
    const argv = [...client.as, flavor.bazel, `--output_base=${client.ob}`, "--max_idle_secs=300", ...args];
    return execa(argv[0]!, argv.slice(1), {
      cwd: client.ws,
      reject: false,
      all: true,
      stdin: "ignore",
      extendEnv: false,
      env: {
        HOME: client.home,
        PATH: client.path,
        USER: client.name,
        // scripts/sid sets its own PATH inside the sid root: the client's goes first there.
        NIXSTORE_SID_PATH_PREFIX: client.path,
      },
    });
  }

  /** The remote flags every developer of the team uses (what nixgen's nixstore-remote config sets). */
  const remote = (client: Client, log: string) => [
    `--remote_executor=${endpoint}`,
    "--remote_instance_name=nixstore",
    "--spawn_strategy=remote",
    "--remote_local_fallback=false",
    // Without it, Bazel 4.2.3 puts the client's PATH into every action's environment (and key).
    "--incompatible_strict_action_env",
    `--repo_env=PATH=${client.path}`,
    // Bazel's own C++ autodetection (sh_test's launcher needs a C++ toolchain on Bazel 4.2.3 and
    // 7.7.1) takes CC; rules_nixstore never does, and its PATH has no compiler on machine 2.
    "--repo_env=CC=/usr/bin/gcc",
    `--execution_log_json_file=${log}`,
    "--test_output=errors",
    ...ccFlags(),
  ];

  function workspace(client: Client, rulesNixstore: string): void {
    mkdirSync(client.ws, { recursive: true });
    mkdirSync(client.home, { recursive: true });
    copyFixture(client.ws);
    const { file, text } = declarations(flavor, client.ws, PACKAGES, [], rulesNixstore, [{}]);
    writeFileSync(join(client.ws, file), text);
    writeFileSync(join(client.ws, "BUILD.bazel"), build(nonce) + CC_BUILD);
    for (const [path, content] of Object.entries(ccFiles(nonce))) writeFileSync(join(client.ws, path), content);
    writeFileSync(join(client.ws, "expect_output.sh"), EXPECT_OUTPUT_SH, { mode: 0o755 });
    writeFileSync(join(client.ws, ".bazelrc"), "try-import %workspace%/.nixstore.bazelrc\n");
  }

  beforeAll(async () => {
    cluster = await leaseCluster();
    endpoint = cluster.endpoint;
    await run("sh", ["-c", `id ${DEV2} >/dev/null 2>&1 || useradd --system --create-home ${DEV2}`]);
    tmp = mkdtempSync(join(tmpdir(), `nixstore-team-${flavor.id}-`));
    chmodSync(tmp, 0o755);
    // Each developer's own checkout of rules_nixstore, at a path of their own.
    const checkouts = ["dev1/src/rules_nixstore", "dev2/code/third_party/rules_nixstore"].map((p) => join(tmp, p));
    for (const c of checkouts) await run("git", ["clone", "--quiet", "--no-hardlinks", REPO_ROOT, c]);
    const uid = Number((await run("id", ["-u", DEV2])).stdout);
    clients.push(
      {
        name: "root",
        ws: join(tmp, "dev1/projects/app"),
        ob: join(tmp, "dev1/cache/ob"),
        home: join(tmp, "dev1/home"),
        path: `${otherCc(join(tmp, "dev1/other-cc"))}:${flavor.path}`,
        as: [],
      },
      {
        name: DEV2,
        ws: join(tmp, "dev2/work/checkout"),
        ob: join(tmp, "dev2/.cache/bazel-ob"),
        home: join(tmp, "dev2/home"),
        path: binWithoutCc(flavor, join(tmp, "dev2/bin")),
        as: ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--init-groups"],
      },
    );
    for (const [i, client] of clients.entries()) workspace(client, checkouts[i]!);
    await run("chown", ["-R", `${DEV2}:`, join(tmp, "dev2")]);
  });

  afterAll(async () => {
    for (const client of clients) await bazel(client, ["shutdown"]);
    if (tmp) await execa("rm", ["-rf", tmp], { reject: false });
    await cluster?.release();
  });

  test("the second developer gets a remote cache hit for every action and uploads no closure bytes", async () => {
    const [dev1, dev2] = clients as [Client, Client];
    // Each client writes its logs where its user may write.
    const logs = [join(tmp, "dev1/exec.json"), join(tmp, "dev2/exec.json")];
    // Each machine's own .nixstore.bazelrc (paths of that machine), written by nixgen there.
    for (const client of clients) {
      const [cmd, args] = flavor.command(["node", NIXGEN, "bazelrc", "--workspace", client.ws, "--output-base", client.ob]);
      const argv = [...client.as, cmd, ...args];
      await run(argv[0]!, argv.slice(1), { env: { HOME: client.home }, cwd: client.ws });
    }
    const first = await bazel(dev1, ["test", ...remote(dev1, logs[0]!), ...TARGETS]);
    expect(first.exitCode, `${explain(first)}\n(cluster logs: ${LOGS})`).toBe(0);
    expect(processes(first.all)).toMatch(/\d+ remote(,|\.|$)/);

    // The second machine fetches the packages itself (no cc at all), then builds.
    const fetched = await bazel(dev2, ["build", "--nobuild", ...remote(dev2, join(tmp, "dev2/fetch.json")), ...TARGETS]);
    expect(fetched.exitCode, explain(fetched)).toBe(0);
    const before = await casBytesUploaded();
    const second = await bazel(dev2, ["test", ...remote(dev2, logs[1]!), ...TARGETS]);
    expect(second.exitCode, explain(second)).toBe(0);
    const uploaded = (await casBytesUploaded()) - before;

    const [one, two] = logs.map((l) => parseExecutionLog(readFileSync(l, "utf8")));
    const diffs = differences(one!, two!);
    const hits = two!.filter(cacheHit).length;
    console.log(
      `${flavor.title}: second developer: ${hits} of ${two!.length} spawns were remote cache hits, ` +
        `${uploaded} bytes uploaded; key parts that differ: ${diffs.length}` +
        diffs.slice(0, 20).map((d) => `\n  ${d}`).join(""),
    );
    expect(diffs, "inputs, environment or argv that differ between the two machines").toEqual([]);
    expect(two!.length).toBeGreaterThanOrEqual(TARGETS.length);
    expect(hits, processes(second.all)).toBe(two!.length);
    // The toolchain's actions among them: compiles (target and exec configuration), the archive,
    // the links and the cc_test.
    const cc = two!.filter((s) => /^Cpp(Compile|Link)$/.test(s.mnemonic ?? ""));
    expect(cc.length).toBeGreaterThanOrEqual(8);
    expect(cc.every(cacheHit)).toBe(true);
    expect(uploaded).toBeLessThan(16 * 1024);
  });
});
