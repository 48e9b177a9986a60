// `nixgen doctor` on this machine, on a machine without Nix on PATH, on a chroot store that is
// consistent, modified or missing a path, and (as root) with --remote against the loopback
// Buildbarn cluster. Real commands throughout: the checks run Nix, Bazel, unshare and cc.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { leaseCluster, type ClusterLease } from "./buildbarn.js";
import { FIXTURE, FLAVORS, NIXGEN, type Flavor } from "./harness.js";


interface Report {
  ok: boolean;
  checks: { id: string; status: "ok" | "warn" | "fail"; summary: string; detail?: string; fix?: string }[];
}

/** Runs `argv` on the flavor's machine (the host, or the sid root). */
function onMachine(flavor: Flavor, argv: string[], env: Record<string, string> = {}, cwd = tmpdir()) {
  const [cmd, args] = flavor.command(argv);
  return execa(cmd, args, { reject: false, all: true, stdin: "ignore", cwd, env });
}

/**
 * `nixgen doctor ARGS` on the machine. With `path`, the machine's PATH is replaced (scripts/sid
 * sets its own PATH, so it is set inside with env).
 */
async function doctor(flavor: Flavor, args: string[], opts: { path?: string; cwd?: string } = {}) {
  const argv = [...(opts.path ? ["env", `PATH=${opts.path}`] : []), "node", NIXGEN, "doctor", ...args];
  const r = await onMachine(flavor, argv, {}, opts.cwd);
  return { result: r, report: args.includes("--json") ? (JSON.parse(String(r.stdout)) as Report) : null };
}

const byId = (report: Report, id: string) => report.checks.find((c) => c.id === id)!;

describe.each(FLAVORS)("nixgen doctor, $title", (flavor) => {
  const root = process.getuid?.() === 0;
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "nixstore-doctor-"));
  });
  afterAll(async () => {
    await execa("chmod", ["-R", "u+w", tmp], { reject: false });
    rmSync(tmp, { recursive: true, force: true });
  });

  test("reports Nix, Bazel, the mount target and user namespaces (no C compiler is needed), as JSON", async () => {
    const { result, report } = await doctor(flavor, ["--json"]);
    expect(result.exitCode, result.all).toBe(0);
    expect(report!.ok).toBe(true);
    expect(report!.checks.map((c) => c.id)).toEqual([
      "nix-build",
      "nix-store",
      "bazel",
      "mount-target",
      "user-namespaces",
    ]);
    // The machine's own versions: Debian's Bazel 4.2.3 says `bazel no_version` (nixgen reads its
    // package version instead), sid's Bazel 7.7.1 says `bazel 7.7.1`.
    expect(byId(report!, "nix-build").summary).toMatch(new RegExp(`^nix-build \\(Nix\\) ${flavor.nixVersion.replace(".", "\\.")}\\b`));
    expect(byId(report!, "bazel").summary).toMatch(flavor.bzlmod ? /^bazel 7\.7\.1\b/ : /^bazel 4\.2\.3\b/);
    expect(byId(report!, "user-namespaces").summary).toMatch(/user\.max_user_namespaces = \d+/);
    for (const c of report!.checks) expect(c.status === "ok" || c.fix).toBeTruthy();
  });

  test.runIf(root)("writes nothing to the host's /nix (nix-store --version would create /nix/var)", async () => {
    // In a private mount namespace whose /nix is an empty directory.
    const nix = join(tmp, "nix");
    mkdirSync(join(nix, "store"), { recursive: true });
    const r = await onMachine(flavor, [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "--",
      "/bin/sh",
      "-c",
      'mount --bind "$0" /nix && shift && exec "$@"',
      nix,
      "-",
      "node",
      NIXGEN,
      "doctor",
      "--json",
    ]);
    expect(r.exitCode, r.all).toBe(0);
    expect(readdirSync(nix).sort()).toEqual(["store"]);
    expect(readdirSync(join(nix, "store"))).toEqual([]);
  });

  test("without Nix on PATH, the Nix checks fail with a fix and the exit status is 1", async () => {
    // A PATH with every command of the machine's /usr/bin but Nix's.
    const bin = join(tmp, "bin-without-nix");
    mkdirSync(bin);
    for (const f of readdirSync(join(flavor.rootDir || "/", "usr/bin"))) {
      if (!f.startsWith("nix")) symlinkSync(join("/usr/bin", f), join(bin, f));
    }
    const path = `${bin}:/usr/sbin:/sbin`;
    const { result, report } = await doctor(flavor, ["--json"], { path });
    expect(result.exitCode, result.all).toBe(1);
    expect(report!.ok).toBe(false);
    expect(byId(report!, "nix-build")).toMatchObject({ status: "fail", summary: "nix-build is not on PATH" });
    expect(byId(report!, "nix-build").fix).toMatch(/apt-get install nix-bin/);
    expect(byId(report!, "bazel").status).toBe("ok");
    // The human-readable form says the same.
    const text = await doctor(flavor, [], { path });
    expect(text.result.stdout).toMatch(/^fail {2}nix-build +nix-build is not on PATH$/m);
    expect(text.result.stdout).toMatch(/fix: install Nix/);
    expect(text.result.stdout).toMatch(/check\(s\) failed/);
  });

  test("checks the output base's chroot store: consistent, modified content, a vanished path", async () => {
    const ob = join(tmp, "ob");
    const root = join(ob, "nixstore");
    const nixOpts = ["--store", root, "--option", "build-users-group", "", "--option", "substituters", ""];
    const none = await doctor(flavor, ["--json", "--output-base", ob]);
    expect(byId(none.report!, "store")).toMatchObject({ status: "ok" });
    expect(byId(none.report!, "store").summary).toMatch(/no chroot store/);

    const built = await onMachine(flavor, ["nix-build", ...nixOpts, FIXTURE, "-A", "tiny03", "--out-link", join(tmp, "result")]);
    expect(built.exitCode, built.all).toBe(0);
    const out = String(built.stdout).trim().split("\n").pop()!;
    const healthy = await doctor(flavor, ["--json", "--output-base", ob, "--check-contents"]);
    expect(healthy.result.exitCode, healthy.result.all).toBe(0);
    expect(byId(healthy.report!, "store").summary).toMatch(/is consistent, every path's content matches/);

    const file = join(root, out, "bin/tiny03");
    chmodSync(file, 0o755);
    writeFileSync(file, "#!/bin/sh\necho tampered\n");
    const modified = await doctor(flavor, ["--json", "--output-base", ob, "--check-contents"]);
    expect(modified.result.exitCode).toBe(1);
    expect(byId(modified.report!, "store")).toMatchObject({ status: "fail" });
    expect(byId(modified.report!, "store").detail).toContain(`path '${out}' was modified`);
    expect(byId(modified.report!, "store").fix).toMatch(/--repair/);

    const busybox = String((await onMachine(flavor, ["nix-store", ...nixOpts, "--query", "--requisites", out])).stdout)
      .split("\n")
      .find((p) => p.endsWith("-busybox"))!;
    await execa("chmod", ["-R", "u+w", join(root, busybox)]);
    rmSync(join(root, busybox), { recursive: true });
    const vanished = await doctor(flavor, ["--json", "--output-base", ob]);
    expect(vanished.result.exitCode).toBe(1);
    expect(byId(vanished.report!, "store").detail).toContain(`path '${busybox}' disappeared`);
  });

  test("--remote needs --executor", async () => {
    const { result } = await doctor(flavor, ["--remote"]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/--remote needs --executor grpc:\/\/HOST:PORT/);
  });
});

// up.sh needs root (it creates the runner's user and a mount namespace), like remote.test.ts.
describe.runIf(process.getuid?.() === 0).each(FLAVORS)("nixgen doctor --remote on the loopback Buildbarn cluster, $title", (flavor) => {
  let endpoint = "";
  let cluster: ClusterLease | undefined;
  beforeAll(async () => {
    cluster = await leaseCluster();
    endpoint = cluster.endpoint;
  });

  afterAll(async () => {
    await cluster?.release();
  });

  test("a probe action runs a Nix executable through its launcher on a worker without /nix", async () => {
    // On Bazel 7 the probe workspace is a bzlmod module (no WORKSPACE there).
    const { result, report } = await doctor(flavor, ["--json", "--remote", "--executor", endpoint, "--instance-name", "nixstore"]);
    expect(result.exitCode, result.all).toBe(0);
    expect(byId(report!, "remote")).toMatchObject({ status: "ok" });
    expect(byId(report!, "remote").summary).toMatch(/ran a Nix executable through its launcher \(worker: \/nix absent\)/);
  });

  test("without --executor, --remote probes the executor of nixgen.config.ts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nixstore-doctor-config-"));
    try {
      writeFileSync(
        join(dir, "nixgen.config.ts"),
        `import { defineConfig } from "rules_nixstore/config";
export default defineConfig({
  remote: { strategy: "launcher", executor: ${JSON.stringify(endpoint)}, instanceName: "nixstore" },
});
`,
      );
      const { result, report } = await doctor(flavor, ["--json", "--remote"], { cwd: dir });
      expect(result.exitCode, result.all).toBe(0);
      expect(byId(report!, "remote")).toMatchObject({ status: "ok" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("an executor that does not answer fails the remote check with a fix", async () => {
    const { result, report } = await doctor(flavor, ["--json", "--remote", "--executor", "grpc://127.0.0.1:1"]);
    expect(result.exitCode).toBe(1);
    expect(byId(report!, "remote")).toMatchObject({ status: "fail" });
    expect(byId(report!, "remote").fix).toMatch(/check the executor address/);
  });
});
