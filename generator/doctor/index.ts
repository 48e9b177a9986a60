/**
 * `nixgen doctor`: what this machine needs for rules_nixstore, each check with ok / warn /
 * fail and a fix. `--remote` runs a probe action on a remote executor and reports whether the
 * launcher can map a closure at /nix/store there. In a workspace whose lock records binary
 * caches, it reports whether this machine can fetch the locked packages without Nix (the caches
 * answer, the decompressors are on PATH), and Nix itself is then needed only for the others.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { fetchUrl } from "../binary-cache/index.js";
import { bazelMajor, writeBazelrc } from "../bazelrc.js";
import { LOCK_FILE, parseLock, type LockFile } from "../lock/index.js";
import { EXTENSION_BZL, EXTENSION_NAME, LOGICAL_STORE_DIR, STORE_DIRNAME } from "../model/index.js";
import { packageRoot, packageVersion } from "../package-root.js";
import { runCommand } from "../run-command.js";

export type Status = "ok" | "warn" | "fail";

export interface Check {
  /** Stable identifier, e.g. "nix". */
  readonly id: string;
  readonly status: Status;
  /** One line: what was found. */
  readonly summary: string;
  /** More output (a command's stderr), when there is any. */
  readonly detail?: string;
  /** What to do, for warn and fail. */
  readonly fix?: string;
}

export interface DoctorReport {
  readonly ok: boolean;
  readonly checks: readonly Check[];
}

export interface RemoteOptions {
  readonly executor: string;
  readonly instanceName?: string;
}

export interface DoctorOptions {
  /** A Bazel workspace whose output base's store is checked (default: none). */
  readonly workspace?: string;
  /** Bazel's output base; default: `bazel info output_base` in `workspace`. */
  readonly outputBase?: string;
  readonly bazel?: string;
  /** Also hash every store path's content (slow on large stores). */
  readonly checkContents?: boolean;
  readonly remote?: RemoteOptions;
  /** Where /nix/store is expected (tests point it elsewhere). */
  readonly mountTarget?: string;
  readonly progress?: ((line: string) => void) | null;
}

interface Run {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly missing: boolean;
  readonly exitCode: number | undefined;
}

async function run(cmd: string, args: string[], options: { cwd?: string; timeout?: number } = {}): Promise<Run> {
  const r = await runCommand([cmd, ...args], {
    timeout: options.timeout ?? 60_000,
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  return { ok: !r.failed, stdout: r.stdout.trim(), stderr: r.stderr.trim(), missing: r.missing, exitCode: r.exitCode };
}

const tail = (text: string, lines = 12) => text.split("\n").slice(-lines).join("\n");

async function checkNix(): Promise<Check[]> {
  const checks: Check[] = [];
  for (const cmd of ["nix-build", "nix-store"]) {
    // `nix-store --version` opens the default store, creating /nix/var and /nix/store/.links
    // on a host without one; the dummy store keeps the doctor from writing to the host.
    const r = await run(cmd, [...(cmd === "nix-store" ? ["--store", "dummy://"] : []), "--version"]);
    if (r.ok) {
      checks.push({ id: cmd, status: "ok", summary: r.stdout.split("\n")[0] ?? "" });
    } else {
      checks.push({
        id: cmd,
        status: "fail",
        summary: r.missing ? `${cmd} is not on PATH` : `\`${cmd} --version\` failed (exit ${r.exitCode})`,
        ...(r.stderr ? { detail: tail(r.stderr) } : {}),
        fix: "install Nix (Debian: apt-get install nix-bin; elsewhere: https://nixos.org/download) and put it on PATH",
      });
    }
  }
  return checks;
}

async function checkBazel(bazel: string): Promise<Check> {
  const r = await run(bazel, ["--version"]);
  if (!r.ok) {
    return {
      id: "bazel",
      status: "fail",
      summary: r.missing ? `${bazel} is not on PATH` : `\`${bazel} --version\` failed (exit ${r.exitCode})`,
      ...(r.stderr ? { detail: tail(r.stderr) } : {}),
      fix: "install Bazel (Debian: apt-get install bazel-bootstrap; elsewhere: Bazelisk) and put it on PATH",
    };
  }
  let version = r.stdout.replace(/^bazel\s+/, "");
  if (version === "no_version") {
    // Debian's bazel-bootstrap; its package version says which release it is.
    const d = await run("dpkg-query", ["-W", "-f=${Version}", "bazel-bootstrap"]);
    version = d.ok && d.stdout ? `${d.stdout.replace(/\+.*$/, "")} (Debian bazel-bootstrap ${d.stdout})` : "unknown (bazel no_version)";
  }
  return { id: "bazel", status: "ok", summary: `bazel ${version}` };
}

function checkMountTarget(target: string): Check {
  let stat: fs.Stats | null = null;
  try {
    stat = fs.statSync(target);
  } catch {
    stat = null;
  }
  if (stat?.isDirectory()) {
    return {
      id: "mount-target",
      status: "ok",
      summary: `${target} exists: the linux-sandbox can map the chroot store there (--sandbox_add_mount_pair)`,
    };
  }
  return {
    id: "mount-target",
    status: "warn",
    summary: `${target} does not exist: Bazel's linux-sandbox cannot mount the chroot store there`,
    fix:
      `run once: sudo mkdir -p ${target} (an empty directory), then nixgen bazelrc; without it ` +
      "Nix executables still work through their launcher",
  };
}

function readSysctl(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    return null;
  }
}

async function checkUserNamespaces(): Promise<Check> {
  const clone = readSysctl("/proc/sys/kernel/unprivileged_userns_clone");
  const max = readSysctl("/proc/sys/user/max_user_namespaces");
  const apparmor = readSysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  const settings = [
    `user.max_user_namespaces = ${max ?? "(absent)"}`,
    ...(clone !== null ? [`kernel.unprivileged_userns_clone = ${clone}`] : []),
    ...(apparmor !== null ? [`kernel.apparmor_restrict_unprivileged_userns = ${apparmor}`] : []),
  ].join(", ");
  const probe = ["--user", "--map-root-user", "--mount", "true"];
  // As root, also try as an unprivileged user: actions usually run as one.
  const asRoot = process.getuid?.() === 0;
  const r = asRoot
    ? await run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "unshare", ...probe])
    : await run("unshare", probe);
  const who = asRoot ? "an unprivileged user (uid 65534)" : "this user";
  if (r.ok) {
    return { id: "user-namespaces", status: "ok", summary: `${who} can create user + mount namespaces (${settings})` };
  }
  if (r.missing) {
    return {
      id: "user-namespaces",
      status: "warn",
      summary: `cannot test user namespaces: ${asRoot ? "setpriv or unshare" : "unshare"} is not on PATH (${settings})`,
      fix: "install util-linux (Debian: apt-get install util-linux)",
    };
  }
  const fixes = [];
  if (max === "0") fixes.push("sysctl -w user.max_user_namespaces=15000");
  if (clone === "0") fixes.push("sysctl -w kernel.unprivileged_userns_clone=1");
  if (apparmor === "1") fixes.push("sysctl -w kernel.apparmor_restrict_unprivileged_userns=0");
  return {
    id: "user-namespaces",
    status: "fail",
    summary: `${who} cannot create a user + mount namespace (${settings}): the launcher cannot map /nix/store where it is missing`,
    ...(r.stderr ? { detail: tail(r.stderr) } : {}),
    fix:
      (fixes.length > 0 ? `as root: ${fixes.join("; ")} (persist it in /etc/sysctl.d/)` : "allow unprivileged user namespaces (sysctl, container runtime's seccomp/AppArmor profile)") +
      `; check with: unshare ${probe.join(" ")}`,
  };
}

async function checkStore(options: DoctorOptions, bazel: string): Promise<Check> {
  let outputBase = options.outputBase;
  if (outputBase === undefined) {
    const r = await run(bazel, ["info", "output_base"], { cwd: options.workspace!, timeout: 300_000 });
    if (!r.ok) {
      return {
        id: "store",
        status: "warn",
        summary: `cannot ask Bazel for the output base of ${options.workspace}`,
        detail: tail(r.stderr),
        fix: "run nixgen doctor in a Bazel workspace, or pass --output-base DIR",
      };
    }
    outputBase = r.stdout;
  }
  const root = path.join(outputBase, STORE_DIRNAME);
  if (!fs.existsSync(path.join(root, "nix", "var", "nix", "db", "db.sqlite"))) {
    return {
      id: "store",
      status: "ok",
      summary: `no chroot store at ${root} yet (the first fetch of a nixpkgs_package creates it)`,
    };
  }
  const args = ["--store", root, "--option", "build-users-group", "", "--verify", ...(options.checkContents ? ["--check-contents"] : [])];
  const r = await run("nix-store", args, { timeout: 3_600_000 });
  if (r.missing) {
    return {
      id: "store",
      status: "warn",
      summary: `cannot check the chroot store at ${root}: nix-store is not on PATH`,
      fix: "run nixgen doctor where Nix is installed to check it (packages downloaded from binary caches do not use it)",
    };
  }
  if (r.ok) {
    return {
      id: "store",
      status: "ok",
      summary: `the chroot store at ${root} is consistent${options.checkContents ? ", every path's content matches its hash" : " (add --check-contents to hash every path)"}`,
    };
  }
  const problems = r.stderr
    .split("\n")
    .filter((l) => !/^(reading the Nix store|checking )/.test(l))
    .join("\n");
  return {
    id: "store",
    status: "fail",
    summary: `nix-store --verify found problems in the chroot store at ${root}`,
    detail: tail(problems, 20),
    fix:
      `repair it: nix-store --store ${root} --verify --check-contents --repair, or delete it ` +
      `(bazel clean --expunge, or rm -rf ${root}) and fetch again`,
  };
}

/** The probe package: a derivation whose builder is the host's static busybox. */
function probeNix(busyboxDir: string): string {
  return `let
  bb = builtins.path {
    path = ${busyboxDir};
    name = "nixstore-probe-busybox";
    filter = p: t: baseNameOf p == "busybox";
  };
in
derivation {
  name = "nixstore-probe";
  system = "x86_64-linux";
  builder = "\${bb}/busybox";
  args = [ "sh" "-e" "-c" "mkdir -p $out/bin && cp \${bb}/busybox $out/bin/busybox && chmod 0555 $out/bin/busybox" ];
}
`;
}

const PROBE_BUILD = `genrule(
    name = "probe",
    outs = ["probe.txt"],
    tools = ["@nixstore_probe//:bin/busybox"],
    cmd = "(test -e /nix && echo nix-present || echo nix-absent; $(location @nixstore_probe//:bin/busybox) echo launcher-ok) > $@",
)
`;

/** The probe package's attributes as Starlark keyword arguments, one a line. */
function probeAttributes(busyboxDir: string): string[] {
  return [
    `    name = "nixstore_probe",`,
    `    nix_file_content = ${JSON.stringify(probeNix(busyboxDir))},`,
    `    nixopts = ["--option", "substituters", ""],`,
    `    quiet = True,`,
  ];
}

/**
 * The probe workspace's files besides BUILD.bazel: rules_nixstore from this package and the
 * probe package, in a MODULE.bazel (bzlmod) for Bazel 7 and later, which may run without
 * WORKSPACE support (`--noenable_workspace`, the default from Bazel 8), else in a WORKSPACE.
 */
export function probeWorkspace(bazelMajor: number | null, busyboxDir: string): Record<string, string> {
  const rules = JSON.stringify(packageRoot());
  if (bazelMajor !== null && bazelMajor >= 7) {
    const module = [
      `module(name = "nixstore_doctor")`,
      `bazel_dep(name = "rules_nixstore", version = ${JSON.stringify(packageVersion())})`,
      `local_path_override(module_name = "rules_nixstore", path = ${rules})`,
      `nixstore = use_extension(${JSON.stringify(EXTENSION_BZL)}, ${JSON.stringify(EXTENSION_NAME)})`,
      `nixstore.package(`,
      ...probeAttributes(busyboxDir),
      `)`,
      `use_repo(nixstore, "nixstore_probe")`,
    ];
    return { "MODULE.bazel": `${module.join("\n")}\n` };
  }
  const workspace = [
    `workspace(name = "nixstore_doctor")`,
    `local_repository(name = "rules_nixstore", path = ${rules})`,
    `load("@rules_nixstore//rules:repositories.bzl", "rules_nixstore_dependencies")`,
    `rules_nixstore_dependencies()`,
    `load("@rules_nixstore//rules:defs.bzl", "nixpkgs_package")`,
    `nixpkgs_package(`,
    ...probeAttributes(busyboxDir),
    `)`,
  ];
  return { WORKSPACE: `${workspace.join("\n")}\n` };
}

/** Runs one genrule through a package launcher on the remote executor. */
export async function checkRemote(remote: RemoteOptions, bazel: string, progress: ((l: string) => void) | null): Promise<Check> {
  const busyboxDir = ["/usr/bin", "/bin"].find((d) => fs.existsSync(path.join(d, "busybox")));
  if (!busyboxDir) {
    return {
      id: "remote",
      status: "fail",
      summary: "the remote probe needs a static busybox on this machine to build its probe package",
      fix: "install it (Debian: apt-get install busybox-static)",
    };
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nixgen-doctor-remote-"));
  const ws = path.join(tmp, "ws");
  const outputBase = path.join(tmp, "ob");
  const startup = [`--output_base=${outputBase}`];
  fs.mkdirSync(ws, { recursive: true });
  try {
    const version = await run(bazel, ["--version"]);
    for (const [file, content] of Object.entries(probeWorkspace(bazelMajor(version.stdout), busyboxDir))) {
      fs.writeFileSync(path.join(ws, file), content);
    }
    fs.writeFileSync(path.join(ws, "BUILD.bazel"), PROBE_BUILD);
    fs.writeFileSync(path.join(ws, ".bazelrc"), "try-import %workspace%/.nixstore.bazelrc\n");
    await writeBazelrc({
      workspace: ws,
      outputBase,
      bazel,
      // The probe runs remotely: no mount pair.
      mountTarget: path.join(tmp, "no-mount-target"),
      warn: () => {},
    });
    progress?.(`nixgen doctor: running a probe action on ${remote.executor}`);
    const flags = [
      `--remote_executor=${remote.executor}`,
      ...(remote.instanceName ? [`--remote_instance_name=${remote.instanceName}`] : []),
      "--spawn_strategy=remote",
      "--genrule_strategy=remote",
      "--remote_local_fallback=false",
      "--noremote_accept_cached",
    ];
    const r = await execa(bazel, [...startup, "build", ...flags, "//:probe"], {
      cwd: ws,
      reject: false,
      stdin: "ignore",
      all: true,
    });
    const where = `on ${remote.executor}${remote.instanceName ? ` (instance ${remote.instanceName})` : ""}`;
    if (r.exitCode === 0) {
      const [nix, launcher] = fs.readFileSync(path.join(ws, "bazel-bin", "probe.txt"), "utf8").trim().split("\n");
      return {
        id: "remote",
        status: launcher === "launcher-ok" ? "ok" : "fail",
        summary: `a probe action ${where} ran a Nix executable through its launcher (worker: /nix ${nix === "nix-present" ? "present" : "absent"})`,
      };
    }
    const all = String(r.all ?? "");
    const refused = /nixstore-enter|user namespace|exit(ed)? 126|exit code 126/i.test(all);
    return {
      id: "remote",
      status: "fail",
      summary: refused
        ? `the launcher could not map /nix/store in a probe action ${where}`
        : `the probe action ${where} failed`,
      detail: tail(all.split("\n").filter((l) => !/^(Loading|Analyzing|INFO: (Analyzed|Found|Elapsed)|\s*$)/.test(l)).join("\n"), 25),
      fix: refused
        ? "the executor's sandbox must allow unprivileged user namespaces (see the launcher's message above), or provide /nix/store on the workers"
        : "check the executor address (--executor grpc://host:port) and --instance-name, and that the executor is up",
    };
  } finally {
    await execa(bazel, [...startup, "shutdown"], { cwd: ws, reject: false, stdin: "ignore" });
    await execa("chmod", ["-R", "u+w", tmp], { reject: false });
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The decompressor of each NAR compression the repository rule undoes (binary_cache.bzl). */
const DECOMPRESSORS: Readonly<Record<string, { tool: string; debian: string } | null>> = {
  none: null,
  xz: { tool: "xz", debian: "xz-utils" },
  zstd: { tool: "zstd", debian: "zstd" },
  bzip2: { tool: "bzip2", debian: "bzip2" },
};

/** Where `tool` is on PATH (as repository rules find it), or null. */
function onPath(tool: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (!dir) continue;
    const file = path.join(dir, tool);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** The workspace's lock file, or null without one (a malformed one is a failed check's detail). */
function readLock(workspace: string): LockFile | Error | null {
  const file = path.join(workspace, LOCK_FILE);
  if (!fs.existsSync(file)) return null;
  try {
    return parseLock(fs.readFileSync(file, "utf8"), file);
  } catch (e) {
    return e as Error;
  }
}

/** The locked packages whose every store path has a binary cache record, and the others. */
function downloadable(lock: LockFile): { yes: string[]; no: string[] } {
  const names = Object.keys(lock.packages).sort();
  const yes = names.filter((n) => Object.keys(lock.packages[n]!.closure).every((p) => p in lock.nars));
  return { yes, no: names.filter((n) => !yes.includes(n)) };
}

/**
 * Whether this machine can fetch the workspace's locked packages without Nix: every binary cache
 * the lock records answers (its nix-cache-info), and the decompressors of its NARs are on PATH.
 */
export async function checkBinaryCaches(lock: LockFile): Promise<Check> {
  const id = "binary-cache";
  const nars = Object.values(lock.nars);
  const { yes, no } = downloadable(lock);
  const caches = [...new Set(nars.map((n) => n.cache))].sort();
  const problems: string[] = [];
  const fixes: string[] = [];
  for (const cache of caches) {
    const got = await fetchUrl(`${cache}/nix-cache-info`);
    if (!("text" in got)) {
      problems.push(`${cache} cannot be reached (${"error" in got ? got.error : "no nix-cache-info: not a binary cache"})`);
      fixes.push(`check the network and the cache ${cache} (or Bazel's --experimental_downloader_config, which Bazel applies and nixgen does not)`);
    }
  }
  const tools: string[] = [];
  for (const compression of [...new Set(nars.map((n) => n.compression))].sort()) {
    const tool = DECOMPRESSORS[compression];
    if (!tool) continue;
    const found = onPath(tool.tool);
    if (found) tools.push(`${tool.tool} (${found})`);
    else {
      problems.push(`${tool.tool} is not on PATH, and ${nars.filter((n) => n.compression === compression).length} NAR(s) are ${compression}-compressed`);
      fixes.push(`install ${tool.tool} (Debian: apt-get install ${tool.debian})`);
    }
  }
  const what = `${yes.length} of the ${yes.length + no.length} locked package(s)`;
  if (problems.length > 0) {
    return {
      id,
      status: "fail",
      summary: `this machine cannot fetch ${what} that the lock records in binary caches without Nix`,
      detail: problems.join("\n"),
      fix: fixes.join("; "),
    };
  }
  const how = `caches ${caches.join(", ")} answer${tools.length ? `; decompressors: ${tools.join(", ")}` : ""}`;
  if (no.length > 0) {
    return {
      id,
      status: "warn",
      summary: `this machine can fetch ${what} without Nix (${how}); ${no.join(", ")} ha${no.length === 1 ? "s" : "ve"} no binary cache record and need${no.length === 1 ? "s" : ""} Nix`,
      fix: `push their closures to a cache of binaryCaches, then run nixgen lock again`,
    };
  }
  return { id, status: "ok", summary: `this machine can fetch all ${yes.length} locked package(s) without Nix (${how})` };
}

/** Runs every check. */
export async function doctor(options: DoctorOptions): Promise<DoctorReport> {
  const bazel = options.bazel ?? "bazel";
  const lock = options.workspace !== undefined ? readLock(options.workspace) : null;
  const nix = await checkNix();
  if (lock instanceof Error) {
    nix.push({ id: "lock", status: "fail", summary: `cannot read ${LOCK_FILE}`, detail: lock.message, fix: "run nixgen lock again" });
  } else if (lock !== null && Object.keys(lock.nars).length > 0 && downloadable(lock).no.length === 0) {
    // Every locked package downloads without Nix: Nix is needed only to lock (or to build others).
    for (const check of nix) {
      if (check.status === "fail") {
        Object.assign(check, {
          status: "warn",
          summary: `${check.summary}: not needed to fetch this workspace's locked packages (they download from binary caches), only to lock or build others`,
        });
      }
    }
  }
  const checks: Check[] = [
    ...nix,
    await checkBazel(bazel),
    checkMountTarget(options.mountTarget ?? LOGICAL_STORE_DIR),
    await checkUserNamespaces(),
  ];
  if (lock !== null && !(lock instanceof Error) && Object.keys(lock.nars).length > 0) checks.push(await checkBinaryCaches(lock));
  if (options.outputBase !== undefined || options.workspace !== undefined) {
    checks.push(await checkStore(options, bazel));
  }
  if (options.remote) checks.push(await checkRemote(options.remote, bazel, options.progress ?? null));
  return { ok: checks.every((c) => c.status !== "fail"), checks };
}

/** Human-readable report: one line per check, then its detail and fix, indented. */
export function formatReport(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.id.length));
  const lines: string[] = [];
  for (const c of report.checks) {
    lines.push(`${c.status.padEnd(4)}  ${c.id.padEnd(width)}  ${c.summary}`);
    const indent = " ".repeat(6 + width + 2);
    if (c.detail) lines.push(...c.detail.split("\n").map((l) => `${indent}| ${l}`));
    if (c.fix) lines.push(`${indent}fix: ${c.fix}`);
  }
  const failed = report.checks.filter((c) => c.status === "fail").length;
  const warned = report.checks.filter((c) => c.status === "warn").length;
  lines.push(
    failed > 0
      ? `nixgen doctor: ${failed} check(s) failed, ${warned} warning(s)`
      : `nixgen doctor: all checks passed${warned > 0 ? `, ${warned} warning(s)` : ""}`,
  );
  return lines.join("\n");
}
