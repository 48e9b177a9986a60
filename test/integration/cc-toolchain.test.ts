// nixpkgs_cc_configure (WORKSPACE on Bazel 4.2.3) and nixstore.cc_configure (bzlmod on Bazel
// 7.7.1): a C/C++ toolchain from the fixture nixpkgs' stdenv.cc (the host's GCC imported into
// store paths, see test/fixtures/nixpkgs/cc.nix), whose compile, link and archive actions and
// whose programs run in the local sandbox with the mount pair, with no mount pair as an
// unprivileged user (the launchers map the closures), and on the Buildbarn cluster's stock
// worker (no Nix, no /nix, uid 999). Real Bazel, real Nix, real Buildbarn.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa, type Result } from "execa";
import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { LOGS, leaseCluster, up, type ClusterLease, type ClusterVariant } from "./buildbarn.js";
import { CC_BUILD, CC_TARGETS, GREETING, ccFiles, elfLinks } from "./cc-support.js";
import {
  FLAVORS,
  ccFlags,
  explain,
  hasMountTarget,
  makeWorkspace,
  parseExecutionLog,
  processes,
  run,
  type CcSpec,
  type Flavor,
  type Spawn,
  type Workspace,
} from "./harness.js";

/** The toolchain under test, and two that are not compilers (fetched only by the error tests). */
const CC: CcSpec[] = [
  {},
  { name: "not_a_compiler", extra: 'attribute_path = "hello"', register: false },
  { name: "no_such_compiler", extra: 'attribute_path = "no_such_compiler"', register: false },
  { name: "no_nix_fallback", extra: "fail_not_supported = False", register: false },
];

/** The unprivileged user who builds without the mount pair. */
const USER = "nixstore-cc";

function spawnsOf(path: string): Spawn[] {
  return parseExecutionLog(readFileSync(path, "utf8"));
}

/** Every command's first word and every absolute input path of a build's C/C++ actions. */
function ccActions(spawns: Spawn[]): { tools: Set<string>; absoluteInputs: string[] } {
  const cc = spawns.filter((s) => /^Cpp(Compile|Link|Archive)$/.test(s.mnemonic ?? ""));
  return {
    tools: new Set(cc.map((s) => s.commandArgs?.[0] ?? "")),
    absoluteInputs: cc.flatMap((s) => (s.inputs ?? []).map((i) => i.path).filter((p) => p.startsWith("/"))),
  };
}

/** The program the genrule ran (built for the exec platform), from its inputs. */
function execTool(spawns: Spawn[]): string {
  const genrule = spawns.find((s) => s.mnemonic === "Genrule");
  const tool = genrule?.inputs?.map((i) => i.path).find((p) => p.endsWith("/bin/hello_cc"));
  if (!tool) throw new Error("the genrule's spawn has no hello_cc input");
  return tool;
}

/** A directory of links to every command of the machine's /usr/bin but Nix's. */
function binWithoutNix(flavor: Flavor, dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(join(flavor.rootDir || "/", "usr/bin"))) {
    if (!f.startsWith("nix")) symlinkSync(join("/usr/bin", f), join(dir, f));
  }
  return dir;
}

describe.each(FLAVORS)("C/C++ toolchain from Nix, $title", (flavor) => {
  let ws: Workspace;
  const toolchain = () => `${ws.execPath("local_config_cc")}/bin`;

  beforeAll(async () => {
    ws = await makeWorkspace(flavor, { packages: [], cc: CC, build: CC_BUILD, files: ccFiles(`local ${Date.now()}`) });
  });
  afterAll(async () => {
    await ws?.close();
  });

  test("local linux-sandbox with the mount pair: compile, archive, link, test and an exec tool", async () => {
    expect(hasMountTarget(flavor)).toBe(true);
    expect(readFileSync(join(ws.dir, ".nixstore.bazelrc"), "utf8")).toContain("--sandbox_add_mount_pair=");
    const log = join(ws.root, "local.json");
    const r = await ws.bazel(["test", "--spawn_strategy=linux-sandbox", `--execution_log_json_file=${log}`, "--test_output=errors", ...ccFlags(), ...CC_TARGETS]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(processes(r.all)).toMatch(/\d+ linux-sandbox/);
    expect(ws.bin("greeting.txt")).toBe(`${GREETING}\n`);

    // The toolchain's launchers ran every C/C++ action: no host compiler, no host file among the inputs.
    const spawns = spawnsOf(log);
    const { tools, absoluteInputs } = ccActions(spawns);
    expect([...tools].sort()).toEqual([`${toolchain()}/ar`, `${toolchain()}/cc`].sort());
    expect(absoluteInputs).toEqual([]);

    // Programs are linked as the Nix toolchain links them; exec tools, statically.
    const program = await elfLinks(flavor, join(ws.dir, "bazel-bin/hello_cc"));
    expect(program.interpreter).toMatch(/^\/nix\/store\/[a-z0-9]{32}-glibc\/lib\/ld-linux-x86-64\.so\.2$/);
    expect(program.runpath.split(":").every((p) => p.startsWith("/nix/store/"))).toBe(true);
    expect(program.runpath).toMatch(/-gcc-\d+-lib\/lib/);
    const tool = await elfLinks(flavor, join(ws.dir, execTool(spawns)));
    expect(tool.interpreter).toBe("");
  });

  test("bazel run of a cc_binary runs under the toolchain's runtime (this machine's /nix/store is empty)", async () => {
    const r = await ws.bazel(["run", ...ccFlags(), "//:hello_cc"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(String(r.stdout).trim()).toBe(GREETING);
  });

  describe.runIf(process.getuid?.() === 0)("as an unprivileged user, without the mount pair", () => {
    let mine: Workspace;
    let uid = 0;

    /** Runs Bazel as USER in its workspace. */
    async function bazel(args: string[]): Promise<Result> {
      const argv = ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--init-groups", flavor.bazel, `--output_base=${mine.outputBase}`, "--max_idle_secs=300", ...args];
      return execa(argv[0]!, argv.slice(1), {
        cwd: mine.dir,
        reject: false,
        all: true,
        stdin: "ignore",
        extendEnv: false,
        env: { HOME: join(mine.root, "home"), PATH: flavor.path, USER, RULES_NIXSTORE_MACHINE_CACHE: mine.machineCache },
      });
    }

    beforeAll(async () => {
      await run("sh", ["-c", `id ${USER} >/dev/null 2>&1 || useradd --system --create-home ${USER}`]);
      uid = Number((await run("id", ["-u", USER])).stdout);
      mine = await makeWorkspace(flavor, { packages: [], cc: [{}], build: CC_BUILD, files: ccFiles(`user ${Date.now()}`), mountPair: false });
      mkdirSync(join(mine.root, "home"));
      chmodSync(mine.root, 0o755);
      await run("chown", ["-R", `${USER}:`, mine.root]);
    });
    afterAll(async () => {
      if (mine) {
        await bazel(["shutdown"]);
        await execa("rm", ["-rf", mine.root], { reject: false });
      }
    });

    test("the launchers map the compiler's closure in the sandbox, and the runtime's for tests and bazel run", async () => {
      expect(readFileSync(join(mine.dir, ".nixstore.bazelrc"), "utf8")).not.toContain("sandbox_add_mount_pair=");
      const built = await bazel(["test", "--spawn_strategy=linux-sandbox", "--test_output=errors", ...ccFlags(), ...CC_TARGETS]);
      expect(built.exitCode, explain(built)).toBe(0);
      expect(processes(built.all)).toMatch(/\d+ linux-sandbox/);
      expect(readFileSync(join(mine.dir, "bazel-bin/greeting.txt"), "utf8")).toBe(`${GREETING}\n`);
      const ran = await bazel(["run", ...ccFlags(), "//:hello_cc"]);
      expect(ran.exitCode, explain(ran)).toBe(0);
      expect(String(ran.stdout).trim()).toBe(GREETING);
    });
  });

  // up.sh needs root (CI runs as root), like remote.test.ts.
  describe.runIf(process.getuid?.() === 0)("on the Buildbarn cluster's stock worker", () => {
    let cluster: ClusterLease | undefined;
    const remote = (log: string) => [
      `--remote_executor=${cluster!.endpoint}`,
      "--remote_instance_name=nixstore",
      "--spawn_strategy=remote",
      "--remote_local_fallback=false",
      // Every action runs on the worker, even one the cluster's cache holds from an earlier run.
      "--noremote_accept_cached",
      "--incompatible_strict_action_env",
      `--execution_log_json_file=${log}`,
      "--test_output=errors",
      ...ccFlags(),
    ];

    /** Runs `body` with the cluster started as `variant`, then puts the default back. */
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

    beforeAll(async () => {
      cluster = await leaseCluster();
    });
    afterAll(async () => {
      await cluster?.release();
    });

    test("compile, archive, link, cc_test and the exec tool's genrule run remotely", async () => {
      for (const [path, text] of Object.entries(ccFiles(`remote ${Date.now()}`))) ws.write(path, text);
      const log = join(ws.root, "remote.json");
      const r = await ws.bazel(["test", ...remote(log), ...CC_TARGETS]);
      expect(r.exitCode, `${explain(r)}\n(cluster logs: ${LOGS})`).toBe(0);
      expect(processes(r.all)).toMatch(/^\d+ processes: (\d+ internal, )?\d+ remote\.?$/);
      const spawns = spawnsOf(log);
      const mnemonics = new Set(spawns.map((s) => s.mnemonic));
      for (const m of ["CppCompile", "CppLink", "TestRunner", "Genrule"]) expect(mnemonics).toContain(m);
      expect(spawns.filter((s) => (s as { runner?: string }).runner !== "remote").map((s) => s.mnemonic)).toEqual([]);
      expect(ws.bin("greeting.txt")).toBe(`${GREETING}\n`);
    });

    test("a worker that refuses user namespaces: the compile fails naming the toolchain repository and the fix", async () => {
      await onVariant({ userns: "refused" }, async () => {
        for (const [path, text] of Object.entries(ccFiles(`userns ${Date.now()}`))) ws.write(path, text);
        const r = await ws.bazel(["build", ...remote(join(ws.root, "refused.json")), "//:greeting"]);
        expect(r.exitCode).not.toBe(0);
        expect(r.all).toContain(`launcher of the repository @${flavor.canonical("local_config_cc")}`);
        expect(r.all).toContain("unshare(CLONE_NEWUSER|CLONE_NEWNS): Operation not permitted");
        expect(r.all).toMatch(/fix: .*user namespaces/);
      });
    });
  });

  test("an attribute_path that is not a compiler fails naming the toolchain and what to give", async () => {
    const r = await ws.refetch(["not_a_compiler"]);
    expect(r.exitCode, explain(r)).not.toBe(0);
    expect(r.all).toContain('nixpkgs_cc_configure(name = "not_a_compiler")');
    expect(r.all).toContain("has no bin/cc: attribute_path must name a C compiler (a cc-wrapper such as stdenv.cc)");
  });

  test("a Nix error (an unknown attribute) fails naming the toolchain and Nix's message", async () => {
    const r = await ws.refetch(["no_such_compiler"]);
    expect(r.exitCode, explain(r)).not.toBe(0);
    expect(r.all).toContain('nixpkgs_cc_configure(name = "no_such_compiler")');
    expect(r.all).toMatch(/attribute 'no_such_compiler' missing|attribute 'no_such_compiler' in selection path/);
  });

  test("where Nix is missing: fail_not_supported fails naming the toolchain, or falls back to Bazel's autodetection", async () => {
    const path = binWithoutNix(flavor, join(ws.root, "no-nix-bin"));
    const failed = await ws.refetch(["local_config_cc"], [`--repo_env=PATH=${path}`]);
    expect(failed.exitCode, explain(failed)).not.toBe(0);
    expect(failed.all).toContain('nixpkgs_cc_configure(name = "local_config_cc"): nix-build and nix-store were not found on PATH.');
    expect(failed.all).toContain("Install Nix (Debian: apt-get install nix-bin)");

    const fallback = await ws.refetch(["no_nix_fallback"], [`--repo_env=PATH=${path}`]);
    expect(fallback.exitCode, explain(fallback)).toBe(0);
    expect(fallback.all).toContain("Using this machine's own C/C++ compiler (Bazel's autodetection)");
    expect(readFileSync(join(ws.repoDir("no_nix_fallback"), "BUILD"), "utf8")).toContain("cc_toolchain(");

    // Back to the Nix toolchain for whatever runs next.
    const back = await ws.refetch(["local_config_cc"]);
    expect(back.exitCode, explain(back)).toBe(0);
  });
});
