// The C/C++ toolchain from Nix (nixpkgs_cc_configure) against Bazel's own autodetected toolchain
// (the machine's /usr/bin/gcc), per Bazel (4.2.3, 7.7.1: NIXSTORE_TEST_BAZEL):
// - the fixture compiler's closure: store paths, files, bytes, and the packed archive's size;
// - 50 compile actions (a cc_library of 50 C++ files, each including <iostream>, <string> and
//   <vector>) on the loopback Buildbarn cluster's stock worker, against the same 50 with the
//   worker's /usr/bin/gcc (Bazel 4.2.3's autodetected toolchain; for Bazel 7.7.1, whose sid root
//   has another gcc, a toolchain describing the worker's, see workerToolchain): a cold run (empty CAS, nothing
//   unpacked on the worker), then one warm run (sources changed, so every compile runs again),
//   wall time per compile action, and bytes uploaded;
// - the same 50 in the local linux-sandbox (with the mount pair), warm;
// - a second client (another output base and machine cache, same sources as the warm run's
//   sequel): the bytes it uploads, of which closure bytes (the archive is already in the CAS).
//
//   sudo npx vitest run --config bench/vitest.config.ts bench/cc-toolchain.bench.test.ts
//
// Writes bench/results/cc-toolchain.json (a Bazel not run keeps its last results). Needs root
// (the cluster); empties the cluster's CAS (down.sh, then its storage) before the cold runs, and
// leaves the cluster with up.sh's default settings.
import { afterAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { cpus, loadavg, release as kernelRelease } from "node:os";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RUN_DIR, casBytesUploaded, down, isUp, release, up } from "../test/integration/buildbarn.js";
import {
  FLAVORS,
  REPO_ROOT,
  ccFlags,
  closureEntries,
  explain,
  makeWorkspace,
  narCaches,
  processes,
  type Workspace,
} from "../test/integration/harness.js";

const RESULTS = join(REPO_ROOT, "bench/results/cc-toolchain.json");
const ACTIONS = 50;
const results: Record<string, unknown> = {};
const startedHere = !(await isUp());

const round = (x: number, digits = 2) => Number(x.toFixed(digits));
const load = () => loadavg().map((x) => round(x));
const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

afterAll(async () => {
  await release(startedHere);
  mkdirSync(join(REPO_ROOT, "bench/results"), { recursive: true });
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, kernel: kernelRelease(), node: process.version };
  const previous = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, "utf8")) as { results?: Record<string, unknown> }).results : {};
  writeFileSync(RESULTS, JSON.stringify({ benchmark: "cc-toolchain", actions: ACTIONS, machine, results: { ...previous, ...results } }, null, 2) + "\n");
});

/** ACTIONS C++ files and the cc_library that compiles them; `nonce` makes every compile new. */
function sources(ws: Workspace, nonce: string): void {
  const names = Array.from({ length: ACTIONS }, (_, i) => `f${i}.cc`);
  names.forEach((name, i) =>
    ws.write(
      name,
      `#include <iostream>\n#include <string>\n#include <vector>\n// ${nonce}\nint f${i}() { std::vector<std::string> v{"${i}"}; std::cout << v[0]; return ${i}; }\n`,
    ),
  );
  ws.write("BUILD.bazel", `cc_library(\n    name = "lib",\n    srcs = [${names.map((n) => `"${n}"`).join(", ")}],\n)\n`);
}

/**
 * The worker's own gcc (/usr/bin/gcc of this machine, where the cluster's runners run) as a
 * toolchain of the workspace: what a team without a Nix toolchain configures for its workers.
 * Bazel 4.2.3 runs on this machine and autodetects that very compiler; Bazel 7.7.1 runs in the
 * sid root, whose autodetected gcc is another one (its include directories are not the worker's),
 * so its remote runs use this one (--extra_toolchains).
 */
async function workerToolchain(ws: Workspace): Promise<string[]> {
  const probe = await execa("sh", ["-c", "gcc -E -x c++ - -v < /dev/null 2>&1; gcc -E -x c - -v < /dev/null 2>&1"]);
  const dirs = new Set<string>();
  for (const block of probe.stdout.split("#include <...> search starts here:").slice(1)) {
    for (const line of block.split("End of search list.")[0]!.split("\n")) if (line.trim()) dirs.add(line.trim());
  }
  const tools: Record<string, string> = { gcc: "/usr/bin/gcc", ar: "/usr/bin/ar", cpp: "/usr/bin/cpp", ld: "/usr/bin/ld", nm: "/usr/bin/nm", objcopy: "/usr/bin/objcopy", objdump: "/usr/bin/objdump", strip: "/usr/bin/strip", gcov: "/usr/bin/gcov", dwp: "/bin/false", "llvm-cov": "/bin/false" };
  ws.write(
    "worker_cc/BUILD.bazel",
    `load("@bazel_tools//tools/cpp:unix_cc_toolchain_config.bzl", "cc_toolchain_config")

filegroup(name = "empty")

cc_toolchain(
    name = "cc",
    all_files = ":empty",
    ar_files = ":empty",
    as_files = ":empty",
    compiler_files = ":empty",
    dwp_files = ":empty",
    linker_files = ":empty",
    objcopy_files = ":empty",
    strip_files = ":empty",
    toolchain_config = ":config",
)

cc_toolchain_config(
    name = "config",
    abi_libc_version = "local",
    abi_version = "local",
    compile_flags = ["-U_FORTIFY_SOURCE", "-fstack-protector", "-Wall", "-fno-omit-frame-pointer"],
    compiler = "gcc",
    cpu = "k8",
    cxx_builtin_include_directories = ${JSON.stringify([...dirs])},
    cxx_flags = ["-std=c++0x"],
    host_system_name = "local",
    link_libs = ["-lstdc++", "-lm"],
    opt_compile_flags = ["-g0", "-O2", "-D_FORTIFY_SOURCE=1", "-DNDEBUG", "-ffunction-sections", "-fdata-sections"],
    target_libc = "local",
    target_system_name = "local",
    tool_paths = ${JSON.stringify(tools)},
    toolchain_identifier = "worker-gcc",
    unfiltered_compile_flags = ["-fno-canonical-system-headers", "-Wno-builtin-macro-redefined", "-D__DATE__=\\"redacted\\"", "-D__TIMESTAMP__=\\"redacted\\"", "-D__TIME__=\\"redacted\\""],
)

toolchain(
    name = "toolchain",
    toolchain = ":cc",
    toolchain_type = "@bazel_tools//tools/cpp:toolchain_type",
)
`,
  );
  return ["--extra_toolchains=//worker_cc:toolchain"];
}

/** Empties the cluster's CAS and action cache and its runners' unpacked closures, and starts it. */
async function coldCluster(): Promise<void> {
  await down();
  await execa("rm", ["-rf", join(RUN_DIR, "storage")]);
  for (const d of narCaches()) if (statSync(d).uid !== process.getuid?.()) rmSync(d, { recursive: true, force: true });
  const started = await up();
  expect(started.exitCode, String(started.all)).toBe(0);
}

const REMOTE = [
  "--remote_executor=grpc://127.0.0.1:8980",
  "--remote_instance_name=nixstore",
  "--spawn_strategy=remote",
  "--remote_local_fallback=false",
  "--incompatible_strict_action_env",
  "--jobs=8",
];

/** Builds //:lib and returns the wall time per compile and the bytes uploaded. */
async function phase(ws: Workspace, flags: string[], strategy: RegExp): Promise<Record<string, number | number[]>> {
  const analysed = await ws.bazel(["build", "--nobuild", ...flags, "//:lib"]);
  expect(analysed.exitCode, explain(analysed)).toBe(0);
  const uploadedBefore = await casBytesUploaded();
  const load_before = load();
  const t = process.hrtime.bigint();
  const r = await ws.bazel(["build", ...flags, "//:lib"]);
  const wall_s = seconds(t);
  expect(r.exitCode, explain(r)).toBe(0);
  expect(processes(r.all)).toMatch(strategy);
  return {
    wall_s: round(wall_s),
    per_compile_ms: round((wall_s / ACTIONS) * 1000, 1),
    uploaded_bytes: (await casBytesUploaded()) - uploadedBefore,
    load_before,
    load_after: load(),
  };
}

/** Store paths, files and bytes of the toolchain's closure, and the size of its archive. */
async function closureFigures(ws: Workspace): Promise<Record<string, number>> {
  const entries = closureEntries(ws, "local_config_cc");
  const store = join(ws.outputBase, "nixstore/nix/store");
  const count = await execa("sh", ["-c", 'find "$@" -type f | wc -l', "count", ...entries.map((e) => join(store, e))]);
  const bytes = await execa("du", ["-sbc", ...entries.map((e) => join(store, e))]);
  return {
    store_paths: entries.length,
    files: Number(count.stdout.trim()),
    bytes: Number(bytes.stdout.trim().split("\n").pop()!.split(/\s+/)[0]),
    packed_bytes: statSync(join(ws.repoDir("local_config_cc"), "_nixstore/closure.nar")).size,
    runtime_packed_bytes: statSync(join(ws.repoDir("local_config_cc"), "_nixstore/runtime.nar")).size,
  };
}

describe.each(FLAVORS)("$title", (flavor) => {
  test(`${ACTIONS} compile actions with the Nix toolchain and with the machine's gcc, remote and local`, async () => {
    const nix = await makeWorkspace(flavor, { packages: [], cc: [{}], build: "" });
    const host = await makeWorkspace(flavor, { packages: [], build: "" });
    const second = await makeWorkspace(flavor, { packages: [], cc: [{}], build: "" });
    try {
      const nonce = `${process.pid}-${Date.now()}`;
      const nixFlags = [...REMOTE, ...ccFlags()];
      // The worker's gcc: Bazel 4.2.3 autodetects it; Bazel 7.7.1 (in the sid root) is told.
      const hostFlags = [...REMOTE, ...(flavor.bzlmod ? await workerToolchain(host) : [])];
      await coldCluster();
      // Cold: the CAS holds nothing, the worker has unpacked nothing.
      sources(nix, `${nonce} cold`);
      sources(host, `${nonce} cold`);
      const nix_cold = await phase(nix, nixFlags, /\d+ remote/);
      const host_cold = await phase(host, hostFlags, /\d+ remote/);
      // Warm: every compile runs again (new sources), with the closure in the CAS and unpacked.
      sources(nix, `${nonce} warm`);
      sources(host, `${nonce} warm`);
      const nix_warm = await phase(nix, nixFlags, /\d+ remote/);
      const host_warm = await phase(host, hostFlags, /\d+ remote/);
      // A second client: its own output base and machine cache, new sources: it uploads sources
      // only (the archive of the compiler is in the CAS already).
      sources(second, `${nonce} second`);
      const second_client = await phase(second, nixFlags, /\d+ remote/);
      // Local linux-sandbox with the mount pair, warm (the first local build fills the disk cache).
      sources(nix, `${nonce} local-0`);
      sources(host, `${nonce} local-0`);
      await phase(nix, ["--spawn_strategy=linux-sandbox", "--jobs=2", ...ccFlags()], /linux-sandbox/);
      await phase(host, ["--spawn_strategy=linux-sandbox", "--jobs=2"], /linux-sandbox/);
      sources(nix, `${nonce} local-1`);
      sources(host, `${nonce} local-1`);
      const nix_local = await phase(nix, ["--spawn_strategy=linux-sandbox", "--jobs=2", ...ccFlags()], /linux-sandbox/);
      const host_local = await phase(host, ["--spawn_strategy=linux-sandbox", "--jobs=2"], /linux-sandbox/);

      const closure = await closureFigures(nix);
      const summary = {
        closure,
        remote_warm_ratio: round((nix_warm.wall_s as number) / (host_warm.wall_s as number)),
        remote_cold_ratio: round((nix_cold.wall_s as number) / (host_cold.wall_s as number)),
        local_warm_ratio: round((nix_local.wall_s as number) / (host_local.wall_s as number)),
        cold_uploaded_bytes: nix_cold.uploaded_bytes,
        second_client_uploaded_bytes: second_client.uploaded_bytes,
        // The compiler's archive is one blob: uploaded again, it alone would exceed this.
        second_client_uploaded_the_archive: (second_client.uploaded_bytes as number) >= closure.packed_bytes!,
      };
      console.log(`${flavor.id}: ${JSON.stringify(summary)}`);
      results[flavor.id] = {
        date: new Date().toISOString(),
        bazel: flavor.title,
        remote: { nix_cold, host_cold, nix_warm, host_warm, second_client },
        local: { nix: nix_local, host: host_local },
        summary,
      };
    } finally {
      for (const ws of [nix, host, second]) await ws.close();
    }
  });
});
