// nixstore-enter (rules/private/nixstore_enter.c), as the mapper and as a launcher (a link to it
// beside its data file, as nixstore_executable writes them), on the host kernel, with real fixture
// packages: the mapper maps a closure read-only at /nix/store for an unprivileged user, in every
// state /nix can be in (absent, empty, store present but empty, store showing the program), and
// explains itself when user namespaces are refused; a launcher finds its data and its closure
// wherever Bazel puts them and runs the program with no shell on the way.
//
// Everything is real: the mapper is the checked-in binary every package repository gets
// (rules/private/enter/<platform>/enter), the packages are built by Nix 2.8 from the fixture
// nixpkgs, and the unprivileged user is uid/gid 65534 (setpriv).
// The tests run as root only to *prepare* environments (a private mount namespace with a new root,
// a user namespace with a limit of 0); the mapper itself always runs as 65534.
//
// NIXSTORE_ENTER=<file> tests another mapper binary (e.g. one that `scripts/build-enter.sh OUT_DIR
// SOURCE` built from a changed source, to check that the tests fail when the behaviour they name
// is broken).
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  rmdirSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { arch, tmpdir } from "node:os";
import { join } from "node:path";
import { LAUNCH_SUFFIX } from "../../generator/model/index.js";
import { FIXTURE, NAR_CACHE_PREFIX, REPO_ROOT } from "./harness.js";

/** The platform directory of this machine's prebuilt mapper, and its zig target. */
const PLATFORM = arch() === "arm64" ? "aarch64-linux" : "x86_64-linux";
const ENTER = process.env.NIXSTORE_ENTER ?? join(REPO_ROOT, "rules/private/enter", PLATFORM, "enter");
const NOBODY = 65534;
const AS_NOBODY = ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups"];

// ---------------------------------------------------------------------------------------------
// Helpers written to the temp dir. Both take their arguments as argv; no test string is ever
// interpolated into shell code.

/**
 * newroot.sh MODE ROOT STORE CWD PLAIN CMD [ARGS...]
 *
 * Run as root inside `unshare --mount --propagation private --fork`. Makes a new root on a tmpfs at
 * ROOT that mirrors the host's top-level entries except /nix (directories bind-mounted recursively,
 * symlinks such as /bin -> usr/bin and /lib64 copied, files bind-mounted), then gives it a /nix
 * according to MODE:
 *   absent        no /nix at all
 *   nix-empty     /nix is an empty tmpfs
 *   store-empty   /nix is a tmpfs holding an empty directory /nix/store (the mount-target case)
 *   store-visible as store-empty, with STORE bind-mounted on /nix/store (a real store)
 * PLAIN is the top-level directory that contains ROOT; it is bound non-recursively so the tree being
 * built is not copied into itself. The script then pivot_roots into ROOT (not chroot: the kernel
 * refuses to let a chrooted process create a user namespace, EPERM), becomes 65534, prints two
 * report lines (`env-nix: ...`, `env-userns: ...`) and execs CMD in CWD.
 */
const NEWROOT_SH = String.raw`#!/bin/sh
set -eu
mode=$1 root=$2 store=$3 cwd=$4 plain=$5
shift 5
mount -t tmpfs -o mode=0755 newroot "$root"
for e in /* /.[!.]*; do
  [ -e "$e" ] || [ -L "$e" ] || continue
  name=$(basename "$e")
  [ "$name" = nix ] && continue
  if [ -L "$e" ]; then
    ln -s "$(readlink "$e")" "$root/$name"
  elif [ -d "$e" ]; then
    mkdir "$root/$name"
    if [ "$e" = "$plain" ]; then mount --bind "$e" "$root/$name"; else mount --rbind "$e" "$root/$name"; fi
  elif [ -f "$e" ]; then
    : > "$root/$name"
    mount --bind "$e" "$root/$name"
  fi
done
case $mode in
  absent) ;;
  nix-empty) mkdir "$root/nix"; mount -t tmpfs -o mode=0755 nix "$root/nix" ;;
  store-empty|store-visible)
    mkdir "$root/nix"
    mount -t tmpfs -o mode=0755 nix "$root/nix"
    mkdir "$root/nix/store"
    if [ "$mode" = store-visible ]; then mount --bind "$store" "$root/nix/store"; fi ;;
  *) echo "newroot.sh: unknown mode $mode" >&2; exit 2 ;;
esac
cd "$root"
mkdir .oldroot
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
cd "$cwd"
exec setpriv --reuid=65534 --regid=65534 --clear-groups /bin/sh -c '
  if [ -e /nix/store ]; then echo "env-nix: store, $(ls -A /nix/store | wc -l) entries"
  elif [ -e /nix ]; then echo "env-nix: no store"
  else echo "env-nix: absent"; fi
  echo "env-userns: $(readlink /proc/self/ns/user)"
  exec "$@"' sh "$@"
`;

/** hide-store.sh CMD [ARGS...]: root, in a private mount namespace: an empty tmpfs over /nix/store. */
const HIDE_STORE_SH = String.raw`#!/bin/sh
set -eu
mount -t tmpfs -o mode=0755 hidden /nix/store
exec "$@"
`;

/**
 * userns-limited CMD [ARGS...]: runs CMD as 65534 inside a new user namespace whose own
 * user.max_user_namespaces is 0, so CMD cannot create a user namespace (ENOSPC), exactly as on a
 * host with `sysctl user.max_user_namespaces=0`, without touching the host's setting.
 *
 * The per-namespace limit is writable by whoever has CAP_SYS_RESOURCE in that namespace (kernel
 * ucount sysctls) and is enforced for namespaces created inside it. 65534 must be mapped in it, and
 * a map of more than the writer's own id has to be written from outside by a privileged process
 * (`unshare --map-users` needs newuidmap and /etc/subuid ranges, which this host has not; a shell
 * cannot do it either: exec as an unmapped uid drops the capabilities needed to write the limit).
 * Hence this small C program (built with the pinned Zig of scripts/build-enter.sh, static): the child unshares, the root parent writes "0 0 1, 65534 65534 1",
 * the child sets the limit to 0, becomes 65534 and execs CMD.
 */
const USERNS_LIMITED_C = String.raw`#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static void put(const char *path, const char *text) {
  int fd = open(path, O_WRONLY);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) { perror(path); exit(125); }
  close(fd);
}
int main(int argc, char **argv) {
  int ready[2], go[2], st;
  char c, path[64];
  if (argc < 2 || pipe(ready) != 0 || pipe(go) != 0) return 125;
  pid_t pid = fork();
  if (pid < 0) return 125;
  if (pid == 0) {
    if (unshare(CLONE_NEWUSER) != 0) { perror("unshare"); _exit(125); }
    if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1) _exit(125);
    put("/proc/sys/user/max_user_namespaces", "0");
    if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) {
      perror("setres[ug]id");
      _exit(125);
    }
    execvp(argv[1], argv + 1);
    perror(argv[1]);
    _exit(125);
  }
  if (read(ready[0], &c, 1) != 1) return 125;
  snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
  put(path, "0 0 1\n65534 65534 1\n");
  snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
  put(path, "0 0 1\n65534 65534 1\n");
  if (write(go[1], "g", 1) != 1) return 125;
  if (waitpid(pid, &st, 0) < 0) return 125;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
`;

// ---------------------------------------------------------------------------------------------
// State shared by the tests (filled in by beforeAll).

let tmp = ""; // 0755 temp dir holding everything
let pkg = ""; // package-repository-like dir: _nixstore/enter and nix/store/<hash-name>
let enter = ""; // <pkg>/_nixstore/enter
let closure = ""; // <pkg>/nix/store
let chrootStore = ""; // <tmp>/store/nix/store, the Nix chroot store the fixtures were built in
let userTmp = ""; // TMPDIR of the unprivileged user (owned by 65534); the mapper does not use it
let hello = ""; // /nix/store/<hash>-hello/bin/hello
let greet = "";
let busybox = ""; // /nix/store/<hash>-busybox/bin
let closurePaths: string[] = []; // /nix/store/<hash-name> of every path in the closure
let hostShowsClosure = false; // whether the host's own /nix/store has any of these paths
let nextRoot = 0;

/** Environment of every unprivileged run: nothing inherited from the test runner (no RUNFILES_DIR). */
function nobodyEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/nonexistent", LANG: "C", TMPDIR: userTmp, ...extra };
}

/** What a finished command gave: exit code and stdout/stderr without their final newline. */
interface Outcome {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Outcome> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error("run: empty argv");
  const r = await execa(file, args, {
    reject: false,
    stdin: "ignore",
    cwd: opts.cwd ?? "/",
    env: opts.env ?? nobodyEnv(),
    extendEnv: false,
    timeout: 120_000,
  });
  return { command: r.command, exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/**
 * argv run as-is on this host, as long as the host's /nix/store does not show the closure (the
 * point is to make the mapper map it). Should another process ever build the fixtures into the real
 * store, argv runs in a private mount namespace with an empty tmpfs over /nix/store instead.
 */
function onHost(argv: string[]): string[] {
  if (!hostShowsClosure) return argv;
  return ["unshare", "--mount", "--propagation", "private", "--fork", "--", join(tmp, "hide-store.sh"), ...argv];
}

/** Runs argv as 65534 on the host (see onHost). */
async function asNobody(argv: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Outcome> {
  return run(onHost([...AS_NOBODY, ...argv]), opts);
}

type NixMode = "absent" | "nix-empty" | "store-empty" | "store-visible";

interface EnvResult {
  result: Outcome;
  /** `env-nix:` report of the environment, e.g. "absent". */
  nix: string;
  /** user namespace of the (unprivileged) shell that started argv. */
  userns: string;
  /** stdout of argv. */
  stdout: string;
}

/** Runs argv as 65534 in a fresh root whose /nix is in state `mode` (see NEWROOT_SH). */
async function inNewRoot(mode: NixMode, argv: string[], cwd = "/", env: Record<string, string> = {}): Promise<EnvResult> {
  const root = join(tmp, `root-${nextRoot++}`);
  mkdirSync(root);
  const plain = "/" + tmp.split("/")[1];
  const result = await run(
    ["unshare", "--mount", "--propagation", "private", "--fork", "--", "/bin/sh", join(tmp, "newroot.sh"), mode, root, chrootStore, cwd, plain, ...argv],
    { env: nobodyEnv(env) },
  );
  const lines = result.stdout.split("\n");
  const report = (key: string): string => {
    const line = lines.find((l) => l.startsWith(`${key}: `));
    if (line === undefined) throw new Error(`no ${key} report:\n${explain(result)}`);
    return line.slice(key.length + 2);
  };
  return {
    result,
    nix: report("env-nix"),
    userns: report("env-userns"),
    stdout: lines.filter((l) => !l.startsWith("env-")).join("\n"),
  };
}

interface Mount {
  id: string;
  parent: string;
  root: string;
  point: string;
  options: string[];
  fstype: string;
  source: string;
}

/** Parses /proc/<pid>/mountinfo text. */
function mounts(text: string): Mount[] {
  return text
    .split("\n")
    .filter((l) => / - /.test(l))
    .map((l) => {
      const [pre = "", post = ""] = l.split(" - ");
      const [id = "", parent = "", , root = "", point = "", options = ""] = pre.split(" ");
      const [fstype = "", source = ""] = post.split(" ");
      return { id, parent, root, point, options: options.split(","), fstype, source };
    });
}

function explain(r: Outcome): string {
  return `exit ${r.exitCode} of ${r.command}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Runs a setup command as root, with the runner's environment plus `env`; returns its stdout. */
async function must(argv: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await run(argv, { env: { ...(process.env as Record<string, string>), ...env } });
  if (r.exitCode !== 0) throw new Error(explain(r));
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "nixstore-launcher-"));
  chmodSync(tmp, 0o755); // mkdtemp makes 0700; 65534 must traverse it
  pkg = join(tmp, "pkg");
  enter = join(pkg, "_nixstore/enter");
  closure = join(pkg, "nix/store");
  userTmp = join(tmp, "tmp-65534");
  mkdirSync(join(pkg, "_nixstore"), { recursive: true });
  mkdirSync(closure, { recursive: true });
  mkdirSync(userTmp, { mode: 0o700 });

  // The mapper, copied as the repository rule copies it.
  cpSync(ENTER, enter);
  chmodSync(enter, 0o755);

  // Fixture packages, built offline into a chroot store of this run.
  const store = join(tmp, "store");
  chrootStore = join(store, "nix/store");
  // No binary cache (offline), and no build users: Debian's nix-bin defaults to the group
  // nixbld, which a fresh machine may not have (the repository rule passes the same option).
  const nixEnv = { NIX_CONFIG: "substituters =\nbuild-users-group =" };
  const build = async (attr: string): Promise<string> =>
    (await must(["nix-build", "--no-out-link", "--store", store, FIXTURE, "-A", attr], nixEnv)).trim();
  const out = { hello: await build("hello"), greet: await build("greet"), busybox: await build("busybox") };
  hello = `${out.hello}/bin/hello`;
  greet = `${out.greet}/bin/greet`;
  busybox = `${out.busybox}/bin`;

  // The package repository's closure: one entry per store path (copies; the repository is the
  // user's own, so the directory is writable by 65534 and only the read-only mount protects it).
  closurePaths = (await must(["nix-store", "--store", store, "-qR", out.hello, out.greet, out.busybox], nixEnv))
    .split("\n")
    .filter(Boolean);
  for (const p of closurePaths) cpSync(join(store, p), join(pkg, p), { recursive: true, verbatimSymlinks: true });
  await must(["chown", "-R", `${NOBODY}:${NOBODY}`, pkg, userTmp]);

  writeFileSync(join(tmp, "newroot.sh"), NEWROOT_SH, { mode: 0o755 });
  writeFileSync(join(tmp, "hide-store.sh"), HIDE_STORE_SH, { mode: 0o755 });
  writeFileSync(join(tmp, "userns-limited.c"), USERNS_LIMITED_C);
  const target = `${PLATFORM.split("-")[0]}-linux-musl`;
  await must([join(REPO_ROOT, "scripts/build-enter.sh"), "--zig", "cc", "-target", target, "-static", "-O2", "-o", join(tmp, "userns-limited"), join(tmp, "userns-limited.c")]);

  hostShowsClosure = closurePaths.some((p) => existsSync(p));
}, 10 * 60 * 1000);

afterAll(async () => {
  if (tmp) await execa("rm", ["-rf", tmp], { reject: false });
});

describe("nixstore-enter", () => {
  test("environment: the fixture closure is built; the state of the host's /nix is recorded", () => {
    // On this machine the nix-bin package created /nix/var; /nix/store may or may not exist (and
    // may hold other paths). Tests 4-7 build their own /nix states; tests 1-3, 8 and 10 use the
    // host's, with the closure hidden if the host's /nix/store happens to show it (see onHost).
    const state = existsSync("/nix/store") ? "store present" : existsSync("/nix") ? "no store" : "absent";
    console.info(`host /nix: ${state}; host /nix/store shows the closure: ${hostShowsClosure}`);
    expect(closurePaths.length).toBe(5); // hello, libgreet, glibc, greet, busybox
    expect(statSync(chrootStore).isDirectory()).toBe(true);
  });

  test("1. an unprivileged user runs programs of a closure the host's /nix/store does not show; argv reaches them intact", async () => {
    // Where the mapper runs, /nix/store really does not show the program.
    const visible = await asNobody(["test", "-e", hello]);
    expect(visible.exitCode).not.toBe(0);

    const h = await asNobody([enter, closure, hello]);
    expect(h.exitCode, explain(h)).toBe(0);
    expect(h.stdout).toBe("hello from nix");
    expect(h.stderr).toBe("");

    // Spaces, a $HOME-like string, a glob and an empty argument: passed as argv, never expanded.
    const g = await asNobody([enter, closure, greet, "a", "b c", "d  e", "$HOME", "*", ""]);
    expect(g.exitCode, explain(g)).toBe(0);
    expect(g.stdout).toBe("greet from nix a b c d  e $HOME * ");
  });

  test("2. the program runs as the invoking user (uid/gid 65534, not 0) and without capabilities", async () => {
    const uid = await asNobody([enter, closure, `${busybox}/id`, "-u"]);
    expect(uid.exitCode, explain(uid)).toBe(0);
    expect(uid.stdout).toBe(String(NOBODY));

    const gid = await asNobody([enter, closure, `${busybox}/id`, "-g"]);
    expect(gid.exitCode, explain(gid)).toBe(0);
    expect(gid.stdout).toBe(String(NOBODY));

    // exec drops the capabilities the mapper held in its user namespace.
    const caps = await asNobody([enter, closure, `${busybox}/grep`, "^CapEff:", "/proc/self/status"]);
    expect(caps.exitCode, explain(caps)).toBe(0);
    expect(caps.stdout).toMatch(/^CapEff:\s+0+$/);
  });

  test("3. the mapped /nix/store is read-only, although the closure directory is writable by the user", async () => {
    // Control: without the mapping, 65534 may write the closure directory (its own repository).
    const writable = await run([...AS_NOBODY, "test", "-w", closure]);
    expect(writable.exitCode, explain(writable)).toBe(0);

    const probe = await asNobody([enter, closure, `${busybox}/sh`, "-c", "echo x > /nix/store/probe"]);
    expect(probe.exitCode, explain(probe)).not.toBe(0);
    expect(probe.stderr).toContain("Read-only file system");
    expect(existsSync(join(closure, "probe"))).toBe(false);

    const info = await asNobody([enter, closure, `${busybox}/cat`, "/proc/self/mountinfo"]);
    expect(info.exitCode, explain(info)).toBe(0);
    const store = mounts(info.stdout).filter((m) => m.point === "/nix/store");
    const top = store.at(-1); // the last mount on a point is the visible one
    expect(top?.root, info.stdout).toBe(realpathSync(closure));
    expect(top?.options).toContain("ro");
  });

  test("4. /nix absent: a new root with /nix/store is entered, and hello runs", async () => {
    const h = await inNewRoot("absent", [enter, closure, hello], tmp);
    expect(h.nix).toBe("absent"); // the same environment, checked just before the mapper runs
    expect(h.result.exitCode, explain(h.result)).toBe(0);
    expect(h.stdout).toBe("hello from nix");

    // The program sees the new root (a tmpfs of the mapper's namespace), the closure read-only at
    // /nix/store, and the working directory it was started in.
    const v = await inNewRoot("absent", [enter, closure, `${busybox}/sh`, "-c", 'pwd; cat /proc/self/mountinfo'], tmp);
    expect(v.nix).toBe("absent");
    expect(v.result.exitCode, explain(v.result)).toBe(0);
    const [pwd, ...info] = v.stdout.split("\n");
    expect(pwd).toBe(tmp);
    const ms = mounts(info.join("\n"));
    const root = ms.find((m) => m.point === "/");
    expect(root?.source).toBe("nixstore-root");
    const store = ms.find((m) => m.point === "/nix/store");
    expect(store?.root).toBe(realpathSync(closure));
    expect(store?.options).toContain("ro");
    expect(store?.parent).toBe(root?.id);
  });

  test("5. /nix present but empty: hello runs", async () => {
    const h = await inNewRoot("nix-empty", [enter, closure, hello], tmp);
    expect(h.nix).toBe("no store");
    expect(h.result.exitCode, explain(h.result)).toBe(0);
    expect(h.stdout).toBe("hello from nix");
  });

  test("6. /nix/store present and empty: the closure is bound onto that very directory", async () => {
    const h = await inNewRoot("store-empty", [enter, closure, hello], tmp);
    expect(h.nix).toBe("store, 0 entries");
    expect(h.result.exitCode, explain(h.result)).toBe(0);
    expect(h.stdout).toBe("hello from nix");

    const v = await inNewRoot("store-empty", [enter, closure, `${busybox}/cat`, "/proc/self/mountinfo"]);
    expect(v.result.exitCode, explain(v.result)).toBe(0);
    const ms = mounts(v.stdout);
    const store = ms.find((m) => m.point === "/nix/store");
    expect(store?.root).toBe(realpathSync(closure));
    expect(store?.options).toContain("ro");
    // Mounted on the existing /nix/store (inside the environment's /nix tmpfs), not in a new root.
    const nix = ms.find((m) => m.point === "/nix");
    expect(nix?.source).toBe("nix");
    expect(store?.parent).toBe(nix?.id);
    expect(ms.some((m) => m.source === "nixstore-root")).toBe(false);
  });

  test("7. program already visible in /nix/store: executed directly, no namespace", async () => {
    const hostNs = readlinkSync("/proc/self/ns/user");

    // /nix/store is a real store holding the program: the program shares its parent's namespace.
    const direct = await inNewRoot("store-visible", [enter, closure, `${busybox}/readlink`, "/proc/self/ns/user"]);
    expect(direct.nix).toMatch(/^store, \d+ entries$/);
    expect(direct.result.exitCode, explain(direct.result)).toBe(0);
    expect(direct.userns).toBe(hostNs);
    expect(direct.stdout).toBe(direct.userns);

    // Control: the same call where /nix/store is empty is mapped, in a new user namespace.
    const mapped = await inNewRoot("store-empty", [enter, closure, `${busybox}/readlink`, "/proc/self/ns/user"]);
    expect(mapped.result.exitCode, explain(mapped.result)).toBe(0);
    expect(mapped.userns).toBe(hostNs);
    expect(mapped.stdout).toMatch(/^user:\[\d+\]$/);
    expect(mapped.stdout).not.toBe(mapped.userns);
  });

  test("8. user namespaces refused: exit 126 and a message naming the program, the cause and the fix", async () => {
    const before = readFileSync("/proc/sys/user/max_user_namespaces", "utf8");
    // The environment really refuses user namespaces (and only inside itself).
    const probe = await run(onHost([join(tmp, "userns-limited"), "unshare", "--user", "true"]));
    expect(probe.exitCode, explain(probe)).not.toBe(0);
    expect(probe.stderr).toContain("No space left on device");

    const r = await run(onHost([join(tmp, "userns-limited"), enter, closure, hello]));
    expect(r.exitCode, explain(r)).toBe(126);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`rules_nixstore launcher: cannot run ${hello}: `);
    expect(r.stderr).toContain("cause: user.max_user_namespaces = 0.");
    expect(r.stderr).toMatch(/\n {2}fix: sysctl -w user\.max_user_namespaces=\d+/);
    expect(r.stderr).not.toContain("No such file or directory");
    expect(readFileSync("/proc/sys/user/max_user_namespaces", "utf8")).toBe(before); // host untouched
  });

  test("9. no root, setuid or file capabilities needed: the user that runs the mapper in these tests holds no capability", async () => {
    // Tests 1-8 run a copy of the mapper that this file made (cpSync + chmod 0755: no setuid
    // bit, no file capabilities) as this user; that the copies Bazel's actions run carry neither
    // is enter-prebuilt.test.ts's to check, on the package repositories' _nixstore/enter.
    const self = await run([...AS_NOBODY, "grep", "^CapEff:", "/proc/self/status"]);
    expect(self.stdout).toMatch(/^CapEff:\s+0+$/);
  });

  test("10. the closure beside the mapper's own executable is preferred over <closure-dir>", async () => {
    const empty = join(tmp, "empty-closure");
    mkdirSync(empty, { recursive: true });
    chmodSync(empty, 0o755);
    // <pkg>/_nixstore/enter maps <pkg>/nix/store even when told an empty directory.
    const beside = await asNobody([enter, empty, hello]);
    expect(beside.exitCode, explain(beside)).toBe(0);
    expect(beside.stdout).toBe("hello from nix");

    // Control: a copy with no nix/store beside it maps the empty directory, and says so.
    const lonely = join(tmp, "lonely");
    mkdirSync(lonely, { recursive: true });
    cpSync(enter, join(lonely, "enter"));
    const r = await asNobody([join(lonely, "enter"), empty, hello]);
    expect(r.exitCode, explain(r)).toBe(126);
    expect(r.stderr).toContain(`cannot run ${hello}: ${hello} is not in the mapped closure ${empty}`);
  });

  /** Two package repositories: one with only busybox, one with only hello's closure. */
  function nestedArgv(): string[] {
    const only = (name: string, suffixes: string[]): string => {
      const dir = join(tmp, name);
      if (existsSync(dir)) return dir;
      mkdirSync(join(dir, "_nixstore"), { recursive: true });
      cpSync(enter, join(dir, "_nixstore/enter"));
      for (const p of closurePaths.filter((q) => suffixes.some((s) => q.endsWith(s))))
        cpSync(join(pkg, p), join(dir, p), { recursive: true, verbatimSymlinks: true });
      return dir;
    };
    const outer = only("only-busybox", ["-busybox"]);
    const inner = only("only-hello", ["-hello", "-libgreet", "-glibc"]);
    // busybox `env` (mapped from the outer closure) runs the inner mapper for hello, which the
    // outer closure lacks: the inner one has to map again, from inside the outer namespaces.
    return [
      join(outer, "_nixstore/enter"), join(outer, "nix/store"),
      `${busybox}/env`, join(inner, "_nixstore/enter"), join(inner, "nix/store"), hello,
    ];
  }

  test("11. a mapped program can run a launcher of another closure (nested mapping, /nix/store present)", async () => {
    const r = await inNewRoot("store-empty", nestedArgv());
    expect(r.result.exitCode, explain(r.result)).toBe(0);
    expect(r.stdout).toBe("hello from nix");
  });

  // Where /nix/store does not exist the mapper enters a new root. With chroot(2) the kernel would
  // refuse unshare(CLONE_NEWUSER) to the mapped program (EPERM), so it could not start a launcher
  // of another closure; the mapper uses pivot_root(2) for that reason, and this test holds it.
  test("12. nested mapping where /nix is absent (the new root is entered with pivot_root, not chroot)", async () => {
    const r = await inNewRoot("absent", nestedArgv());
    expect(r.nix).toBe("absent");
    expect(r.result.exitCode, explain(r.result)).toBe(0);
    expect(r.stdout).toBe("hello from nix");
  });
});

describe("nixstore-enter stages nothing on a shared file system", () => {
  // Earlier versions staged the new root (where /nix/store does not exist) in a directory with a
  // predictable name, $TMPDIR/.nixstore-root-<uid> (then /tmp, /var/tmp, /dev/shm), that they did
  // not check the owner of, mounted after an lstat, and trusted TMPDIR. Now the new root is a
  // tmpfs mounted in the mapper's own mount namespace over a directory of /: these tests plant
  // what another user could at the old paths and show that the program still runs, that nothing
  // planted is followed, used or changed, and that no mount leaves the namespace.
  const OLD_NAME = `.nixstore-root-${NOBODY}`;
  const BASES = ["/tmp", "/var/tmp", "/dev/shm"];
  let sharedTmp = ""; // a TMPDIR shared with other users (1777), as /tmp is
  let victim = ""; // where the planted symlinks point: a directory of another user

  /** What a path is now: its type, owner, mode, mtime and, for a directory, its entries. */
  function describePath(path: string): string {
    if (!lstatExists(path)) return "absent";
    const st = lstatSync(path);
    const kind = st.isSymbolicLink() ? `link -> ${readlinkSync(path)}` : st.isDirectory() ? "dir" : "other";
    const entries = st.isDirectory() ? ` [${readdirSync(path).sort().join(",")}]` : "";
    return `${kind} ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)} ${st.mtimeMs}${entries}`;
  }

  function lstatExists(path: string): boolean {
    try {
      lstatSync(path);
      return true;
    } catch {
      return false;
    }
  }

  /** The old staging paths: under the shared TMPDIR and each base. */
  const oldPaths = () => [join(sharedTmp, OLD_NAME), ...BASES.map((b) => join(b, OLD_NAME))];

  beforeAll(() => {
    sharedTmp = join(tmp, "shared-tmp");
    mkdirSync(sharedTmp);
    chmodSync(sharedTmp, 0o1777);
    victim = join(tmp, "victim");
    mkdirSync(victim);
    writeFileSync(join(victim, "precious"), "keep me\n");
    chmodSync(victim, 0o777); // writable by anyone: only the mapper's restraint protects it
    for (const p of oldPaths()) {
      if (!lstatExists(p)) continue;
      // Left by an earlier version (an empty directory): set aside for these tests.
      if (!lstatSync(p).isDirectory() || readdirSync(p).length > 0) throw new Error(`${p} exists and is not an empty directory: remove it`);
      rmdirSync(p);
    }
  });

  afterAll(() => {
    for (const p of oldPaths()) rmSync(p, { recursive: true, force: true });
  });

  /**
   * Runs hello through the mapper as 65534, with TMPDIR = the shared directory, in an environment
   * whose /nix is in state `mode`; the shell that starts the mapper prints its mount namespace's
   * mountinfo before and after, and the mapped program its own mountinfo.
   */
  async function runWithPlanted(mode: NixMode) {
    const planted = oldPaths().map(describePath);
    const victimBefore = describePath(victim);
    const script = 'cat /proc/self/mountinfo; echo "== mapped"; "$@" || echo "exit $?"; echo "== after"; cat /proc/self/mountinfo';
    const argv = ["/bin/sh", "-c", script, "sh", enter, closure, `${busybox}/sh`, "-c", `${hello} && cat /proc/self/mountinfo`];
    const r = await inNewRoot(mode, argv, "/", { TMPDIR: sharedTmp });
    expect(r.result.exitCode, explain(r.result)).toBe(0);
    const [callerBefore = "", mapped = "", callerAfter = ""] = r.stdout.split(/\n== (?:mapped|after)\n/);
    return { planted, plantedAfter: oldPaths().map(describePath), victimBefore, callerBefore, mapped, callerAfter };
  }

  function expectUntouched(o: Awaited<ReturnType<typeof runWithPlanted>>) {
    // The program ran.
    expect(o.mapped.split("\n")[0], o.mapped).toBe("hello from nix");
    // Nothing planted (or absent) at the old paths changed: not followed, not created, not used.
    expect(o.plantedAfter).toEqual(o.planted);
    expect(describePath(victim)).toBe(o.victimBefore);
    expect(readFileSync(join(victim, "precious"), "utf8")).toBe("keep me\n");
    // No mount left the mapper's namespace: the caller's mount table is the same after the run.
    const points = (text: string) => mounts(text).map((m) => m.point);
    expect(points(o.callerBefore).length).toBeGreaterThan(5);
    expect(points(o.callerAfter), "the caller's mounts after the run").toEqual(points(o.callerBefore));
    // Inside, nothing is mounted at or under the old paths or the symlinks' target.
    const inside = points(o.mapped);
    for (const p of [...oldPaths(), victim]) expect(inside.filter((q) => q === p || q.startsWith(`${p}/`)), p).toEqual([]);
    expect(mounts(o.mapped).filter((m) => m.source === "nixstore-root").map((m) => m.point)).toEqual(["/"]);
  }

  test("13. hostile symlinks at the old paths ($TMPDIR, /tmp, /var/tmp, /dev/shm) are not followed, and nothing changes outside", async () => {
    for (const p of oldPaths()) symlinkSync(victim, p);
    try {
      for (const mode of ["absent", "nix-empty"] as const) {
        const o = await runWithPlanted(mode);
        expect(o.planted.every((d) => d.startsWith(`link -> ${victim} `)), o.planted.join("\n")).toBe(true);
        expectUntouched(o);
      }
    } finally {
      for (const p of oldPaths()) rmSync(p, { force: true });
    }
  });

  test("14. directories of another user at the old paths are not used, and nothing changes outside", async () => {
    const other = 4242; // a user that is neither root nor the mapper's
    for (const p of oldPaths()) {
      mkdirSync(p);
      chmodSync(p, 0o777);
      chownSync(p, other, other);
    }
    try {
      for (const mode of ["absent", "nix-empty"] as const) {
        const o = await runWithPlanted(mode);
        expect(o.planted.every((d) => d.startsWith(`dir ${other}:${other} 777 `)), o.planted.join("\n")).toBe(true);
        expectUntouched(o);
      }
    } finally {
      for (const p of oldPaths()) rmSync(p, { recursive: true, force: true });
    }
  });

  test("15. the new root mirrors every top-level entry of /, with its own content (the directory it is mounted over too)", async () => {
    // stat of every top-level entry outside, then through the mapper: each directory and file
    // must be the same one (device and inode), each symlink have the same target.
    const stat = 'stat -c "%F|%n|%d %i|%N" /*';
    const r = await inNewRoot("absent", ["/bin/sh", "-c", `${stat}; echo ==; exec "$@"`, "sh", enter, closure, `${busybox}/sh`, "-c", stat]);
    expect(r.result.exitCode, explain(r.result)).toBe(0);
    const entries = (text: string) =>
      text
        .split("\n")
        .map((l) => l.split("|"))
        .map(([type = "", name = "", id = "", quoted = ""]) => (type === "symbolic link" ? `${name} -> ${quoted}` : `${name} ${type} ${id}`))
        .sort();
    const [outside = [], inside = []] = r.stdout.split("\n==\n").map(entries);
    expect(outside.length).toBeGreaterThan(5);
    // The same entries (the root itself is new: its /nix is the mapper's own).
    expect(inside.filter((l) => !l.startsWith("/nix "))).toEqual(outside);
  });
});

describe("launcher mode: a link to the mapper beside its data file, as nixstore_executable writes them", () => {
  /**
   * The launcher data nixstore_executable writes (rules/private/executable.bzl): the program path
   * with every byte outside [A-Za-z0-9+-._/=?] as \0ddd, the runfiles repository, the exec path.
   */
  function data(program: string, repo: string, execRepo = `external/${repo}`): string {
    const escaped = [...Buffer.from(program)]
      .map((b) => (/[A-Za-z0-9+\-._/=?]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `\\0${b.toString(8).padStart(3, "0")}`))
      .join("");
    return `# test data\nprogram=${escaped}\nrunfiles_repo=${repo}\nexec_repo=${execRepo}\n`;
  }

  /** A launcher at `path`: a symbolic link to `target` (the mapper), and its data beside it. */
  function place(path: string, target: string, text: string): string {
    mkdirSync(join(path, ".."), { recursive: true });
    rmSync(path, { force: true });
    symlinkSync(target, path);
    writeFileSync(`${path}${LAUNCH_SUFFIX}`, text, { mode: 0o644 });
    return path;
  }

  test("finds the closure of its package repository and runs the program from any cwd, argv intact", async () => {
    const h = place(join(pkg, "_nixstore/bin/hello"), "../enter", data(hello, "hello"));
    const r = await asNobody([h], { cwd: "/" });
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.stdout).toBe("hello from nix");

    const g = place(join(pkg, "_nixstore/bin/greet"), "../enter", data(greet, "greet"));
    // Double space, empty argument, $HOME, a glob that would match (the cwd has files), $(...):
    // word splitting, globbing or evaluation anywhere on the way would change the output.
    const a = await asNobody([g, "b  c", "", "$HOME", "*", "$(id)"], { cwd: join(pkg, "_nixstore") });
    expect(a.exitCode, explain(a)).toBe(0);
    expect(a.stdout).toBe("greet from nix b  c  $HOME * $(id)");
  });

  test("no shell on the way: the launcher process is the mapper, which executes the program itself", async () => {
    const h = place(join(pkg, "_nixstore/bin/hello"), "../enter", data(hello, "hello"));
    // Every execve of the run, traced: the launcher's, then the program's, and nothing between.
    const trace = join(userTmp, "execve.trace");
    const r = await asNobody(["strace", "-f", "-qq", "-s", "4096", "-e", "trace=execve", "-o", trace, h, "a b"], { cwd: "/" });
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.stdout).toBe("hello from nix");
    const calls = readFileSync(trace, "utf8").split("\n").filter((l) => l.includes("execve("));
    expect(calls.map((l) => l.replace(/^\d+\s+/, "").replace(/, 0x[0-9a-f]+ \/\* \d+ vars \*\/\)/, ")")), calls.join("\n")).toEqual([
      `execve("${h}", ["${h}", "a b"]) = 0`,
      `execve("${hello}", ["${hello}", "a b"]) = 0`,
    ]);
  });

  test("found on PATH by its bare name, it still finds its data beside its path", async () => {
    const h = place(join(pkg, "_nixstore/bin/hello"), "../enter", data(hello, "hello"));
    const r = await asNobody(["hello"], { cwd: "/", env: nobodyEnv({ PATH: `${join(h, "..")}:/usr/bin:/bin` }) });
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.stdout).toBe("hello from nix");
  });

  test("run through a link to it (a link with no data beside it), it follows the link to its data", async () => {
    const h = place(join(pkg, "_nixstore/bin/hello"), "../enter", data(hello, "hello"));
    const link = join(tmp, "links/hello");
    mkdirSync(join(link, ".."), { recursive: true });
    symlinkSync(h, link);
    const r = await asNobody([link], { cwd: "/" });
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.stdout).toBe("hello from nix");
  });

  test("finds the closure through a runfiles tree of symlinks", async () => {
    // <launcher>.runfiles/<repo>/... as Bazel lays out runfiles: symlinks to the repository's files.
    // The launcher is a copy here (nothing beside its resolved path), so only the runfiles tell.
    const rf = join(tmp, "rf");
    const launcher = join(rf, "bin/hello");
    mkdirSync(join(rf, "bin"), { recursive: true });
    cpSync(enter, launcher);
    writeFileSync(`${launcher}${LAUNCH_SUFFIX}`, data(hello, "hello"));
    const repo = join(`${launcher}.runfiles`, "hello");
    mkdirSync(join(repo, "_nixstore"), { recursive: true });
    mkdirSync(join(repo, "nix/store"), { recursive: true });
    symlinkSync(enter, join(repo, "_nixstore/enter"));
    for (const p of closurePaths) symlinkSync(join(pkg, p), join(repo, p));
    const r = await asNobody([launcher], { cwd: "/" });
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.stdout).toBe("hello from nix");
    // The package repository behind the runfiles' links is mapped (real files, as in a store).
    const sh = join(rf, "bin/sh");
    cpSync(enter, sh);
    writeFileSync(`${sh}${LAUNCH_SUFFIX}`, data(`${busybox}/sh`, "hello"));
    symlinkSync(`${launcher}.runfiles`, `${sh}.runfiles`);
    const m = await asNobody([sh, "-c", "grep ' /nix/store ' /proc/self/mountinfo"], { cwd: "/" });
    expect(m.exitCode, explain(m)).toBe(0);
    expect(m.stdout.split(" ")[3]).toBe(realpathSync(closure));
  });

  test("a copy in an execution root finds the closure under exec_repo, relative to the working directory", async () => {
    // As on a remote worker: the launcher is a regular file under bazel-out, the repository's
    // files are inputs at external/<repo>.
    const execroot = join(tmp, "execroot");
    const launcher = join(execroot, "bazel-out/k8-fastbuild/bin/external/hello/_nixstore/bin/hello");
    mkdirSync(join(launcher, ".."), { recursive: true });
    mkdirSync(join(execroot, "external"), { recursive: true });
    cpSync(enter, launcher);
    writeFileSync(`${launcher}${LAUNCH_SUFFIX}`, data(hello, "hello"));
    symlinkSync(pkg, join(execroot, "external/hello"));
    const rel = "bazel-out/k8-fastbuild/bin/external/hello/_nixstore/bin/hello";
    const r = await asNobody([rel, "x"], { cwd: execroot });
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.stdout).toBe("hello from nix");
    // Control: from another directory, exec_repo points nowhere.
    const elsewhere = await asNobody([launcher], { cwd: "/" });
    expect(elsewhere.exitCode, explain(elsewhere)).toBe(127);
  });

  test("a copy in a remote worker's input root finds its data and closure in its own runfiles tree", async () => {
    // As Bazel lays out a tool on a remote worker: the launcher a regular file at its execution
    // path, nothing beside it; its runfiles (data file, enter, closure) only under <launcher>.runfiles.
    const execroot = join(tmp, "remote-root");
    const layouts = [
      // a package repository's launcher: .../bin/external/<repo>/<path>
      { launcher: "bazel-out/k8-opt-exec/bin/external/hello/_nixstore/bin/hello", repo: "hello", inRepo: "_nixstore/bin/hello" },
      // a launcher of the main repository: .../bin/<path>, its runfiles under the workspace's name
      { launcher: "bazel-out/k8-fastbuild/bin/tools/_nixstore/hi", repo: "_main", inRepo: "tools/_nixstore/hi" },
    ];
    for (const { launcher, repo, inRepo } of layouts) {
      const path = join(execroot, launcher);
      mkdirSync(join(path, ".."), { recursive: true });
      cpSync(enter, path);
      const rf = join(`${path}.runfiles`, repo);
      mkdirSync(join(rf, inRepo, ".."), { recursive: true });
      writeFileSync(join(rf, `${inRepo}${LAUNCH_SUFFIX}`), data(hello, repo, `external/${repo}`));
      mkdirSync(join(rf, "_nixstore"), { recursive: true });
      cpSync(enter, join(rf, "_nixstore/enter"));
      for (const p of closurePaths) cpSync(join(pkg, p), join(rf, p), { recursive: true, verbatimSymlinks: true });
      writeFileSync(join(`${path}.runfiles`, "_repo_mapping"), "");
      const r = await asNobody([launcher, "x"], { cwd: execroot });
      expect(r.exitCode, explain(r)).toBe(0);
      expect(r.stdout).toBe("hello from nix");
    }
  });

  test("where /nix/store shows the program: executed directly, no namespace", async () => {
    const h = place(join(pkg, "_nixstore/bin/readlink"), "../enter", data(`${busybox}/readlink`, "busybox"));
    const direct = await inNewRoot("store-visible", [h, "/proc/self/ns/user"]);
    expect(direct.result.exitCode, explain(direct.result)).toBe(0);
    expect(direct.stdout).toBe(direct.userns);
    const mapped = await inNewRoot("store-empty", [h, "/proc/self/ns/user"]);
    expect(mapped.result.exitCode, explain(mapped.result)).toBe(0);
    expect(mapped.stdout).toMatch(/^user:\[\d+\]$/);
    expect(mapped.stdout).not.toBe(mapped.userns);
  });

  test("where /nix is absent: a new root is entered, and the program runs in the caller's cwd", async () => {
    const h = place(join(pkg, "_nixstore/bin/hello"), "../enter", data(hello, "hello"));
    const r = await inNewRoot("absent", [h], tmp);
    expect(r.nix).toBe("absent");
    expect(r.result.exitCode, explain(r.result)).toBe(0);
    expect(r.stdout).toBe("hello from nix");
  });

  test("user namespaces refused: exit 126 and the cause and fix", async () => {
    const h = place(join(pkg, "_nixstore/bin/hello"), "../enter", data(hello, "hello"));
    const r = await run(onHost([join(tmp, "userns-limited"), h]));
    expect(r.exitCode, explain(r)).toBe(126);
    expect(r.stderr).toContain(`rules_nixstore launcher: cannot run ${hello}: `);
    expect(r.stderr).toContain("cause: user.max_user_namespaces = 0.");
  });

  test("without its closure anywhere it looks: exit 127 and a message naming the closure and the fix", async () => {
    // A package repository with the mapper but no nix/store, no runfiles, no RUNFILES_DIR, and a
    // cwd without external/hello.
    const bare = join(tmp, "bare");
    mkdirSync(join(bare, "_nixstore"), { recursive: true });
    cpSync(enter, join(bare, "_nixstore/enter"));
    const h = place(join(bare, "_nixstore/bin/hello"), "../enter", data(hello, "hello"));
    const r = await asNobody([h], { cwd: "/" });
    expect(r.exitCode, explain(r)).toBe(127);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`rules_nixstore launcher: cannot run ${hello}: /nix/store does not show it`);
    expect(r.stderr).toContain("(hello/nix/store) is neither in this launcher's runfiles nor under 'external/hello'");
    expect(r.stderr).toContain("Depend on the runnable target (@hello//:bin/<exe>");
  });

  test("without its data, or with data it cannot read: exit 127 naming the file, and argv is never run", async () => {
    // A copy of the mapper under another name, with nothing beside it: not a launcher, and not
    // `enter` either, so its arguments are not taken as <closure-dir> <program>.
    const lost = join(tmp, "lost/hello");
    mkdirSync(join(lost, ".."), { recursive: true });
    cpSync(enter, lost);
    const r = await asNobody([lost, closure, `${busybox}/touch`, join(userTmp, "ran")], { cwd: "/" });
    expect(r.exitCode, explain(r)).toBe(127);
    expect(r.stderr).toContain(`rules_nixstore launcher: ${lost}: no launcher data ${lost}${LAUNCH_SUFFIX} beside it, beside what it links to or in its runfiles`);
    expect(existsSync(join(userTmp, "ran"))).toBe(false);

    writeFileSync(`${lost}${LAUNCH_SUFFIX}`, "program=/nix/store/x/bin/x\nshell=rm -rf /\n");
    const bad = await asNobody([lost], { cwd: "/" });
    expect(bad.exitCode, explain(bad)).toBe(127);
    expect(bad.stderr).toContain(`${lost}${LAUNCH_SUFFIX}: not launcher data of nixstore_executable: bad line "shell=rm -rf /"`);
  });

  test("a program path with bytes outside the plain alphabet is decoded from its \\0ddd escapes", async () => {
    // A link in the closure with spaces, quotes, `$`, a backslash and a newline in its name.
    const name = "we'ird \"$HOME\" \\n\nx";
    symlinkSync("busybox", join(pkg, `${busybox}/${name}`));
    try {
      const h = place(join(pkg, "_nixstore/bin/weird"), "../enter", data(`${busybox}/${name}`, "busybox"));
      expect(readFileSync(`${h}${LAUNCH_SUFFIX}`, "utf8")).toContain("\\0047");
      const r = await asNobody([h, "echo", "ok"], { cwd: "/" });
      // busybox runs the applet named by its argv[0]'s basename: an unknown one, named exactly.
      expect(r.stderr, explain(r)).toContain(`${name}: applet not found`);
    } finally {
      rmSync(join(pkg, `${busybox}/${name}`), { force: true });
    }
  });
});

describe("packed closures: enter --pack writes one Nix archive, and a launcher unpacks it once per user", () => {
  // A user of its own, so that its cache directory is this suite's alone.
  const PACKER = 65530;
  const AS_PACKER = ["setpriv", `--reuid=${PACKER}`, `--regid=${PACKER}`, "--clear-groups"];
  const cacheDir = `${NAR_CACHE_PREFIX}${PACKER}`;
  let nar = "";
  let sha256 = "";
  let nextInputRoot = 0;

  const entries = () => closurePaths.map((p) => p.slice("/nix/store/".length));
  const asPacker = (argv: string[], cwd = "/") => run(onHost([...AS_PACKER, ...argv]), { cwd });
  const sha256Of = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);
  const cache = () => list(cacheDir);
  /** The archive's entry and lock file: what a cache holds after the archive was unpacked. */
  const unpacked = () => [`${sha256}.entry`, `${sha256}.lock`];
  /** The private caches beside the squatted one: <cacheDir>.<random>. */
  const privateCaches = () => readdirSync("/tmp").filter((e) => e.startsWith(`${cacheDir.slice(5)}.`)).map((e) => `/tmp/${e}`);
  const closureOf = (dir: string) => join(dir, `${sha256}.entry`, "closure");
  const stampOf = (dir: string) => readFileSync(join(dir, `${sha256}.entry`, "complete"), "utf8");

  /**
   * A remote worker's input root holding hello's launcher and, in its runfiles, only its data,
   * `enter` and the archive `archive` (no closure directory anywhere): returns the launcher.
   */
  function inputRoot(archive: string, sha = sha256): string {
    const root = join(tmp, `packed-root-${nextInputRoot++}`);
    const launcher = join(root, "bazel-out/k8-opt-exec/bin/external/hello/_nixstore/bin/hello");
    const rf = join(`${launcher}.runfiles`, "hello");
    mkdirSync(join(rf, "_nixstore/bin"), { recursive: true });
    cpSync(enter, launcher);
    cpSync(enter, join(rf, "_nixstore/enter"));
    cpSync(archive, join(rf, "_nixstore/closure.nar"));
    writeFileSync(
      join(rf, `_nixstore/bin/hello${LAUNCH_SUFFIX}`),
      `program=${hello}\nrunfiles_repo=hello\nexec_repo=external/hello\nnar=_nixstore/closure.nar\nnar_sha256=${sha}\n`,
    );
    chmodSync(root, 0o755);
    return launcher;
  }

  /** The sha256 of the NAR of a directory's entries (what its closure's archive would be). */
  async function narOf(dir: string): Promise<string> {
    const out = join(tmp, `nar-of-${nextInputRoot++}.nar`);
    await must([enter, "--pack", out, dir, ...readdirSync(dir)]);
    return sha256Of(out);
  }

  /** Runs hello's launcher as the packer and expects it to print its greeting. */
  async function runsHello(): Promise<Outcome> {
    const r = await asPacker([inputRoot(nar), "x"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.stdout).toBe("hello from nix");
    return r;
  }

  /** Counts the files, links and directories below dir, as the completion stamp does. */
  function nodes(dir: string): number {
    return readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + 1 + (e.isDirectory() ? nodes(join(dir, e.name)) : 0), 0);
  }

  beforeAll(async () => {
    nar = join(tmp, "closure.nar");
    sha256 = (await must([enter, "--pack", nar, closure, ...entries()])).trim();
    rmSync(cacheDir, { recursive: true, force: true });
    for (const p of privateCaches()) rmSync(p, { recursive: true, force: true });
  });
  afterEach(() => {
    rmSync(cacheDir, { recursive: true, force: true });
    for (const p of privateCaches()) rmSync(p, { recursive: true, force: true });
  });

  test("enter --pack writes byte for byte what nix-store --dump writes for the closure's directory, and prints its sha256", async () => {
    // The package's nix/store holds exactly the closure's entries.
    expect(readdirSync(closure).sort()).toEqual(entries().sort());
    const dumped = join(tmp, "dumped.nar");
    await must(["sh", "-c", 'exec nix-store --dump "$1" > "$2"', "dump", closure, dumped]);
    expect(readFileSync(nar).equals(readFileSync(dumped))).toBe(true);
    expect(sha256).toBe(sha256Of(nar));
    expect(sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  test("enter --nar-hash prints each store path's NAR hash exactly as nix-store --query --hash does", async () => {
    const store = join(chrootStore, "../..");
    const nixEnv = { NIX_CONFIG: "substituters =\nbuild-users-group =" };
    const want = (await must(["nix-store", "--store", store, "--query", "--hash", ...closurePaths], nixEnv)).split("\n");
    const have = (await must([enter, "--nar-hash", closure, ...entries()])).split("\n");
    expect(want.length).toBe(closurePaths.length);
    expect(have).toEqual(want);
    // A changed file changes its path's hash, and only that one.
    const copy = join(tmp, "nar-hash-copy");
    for (const p of closurePaths) cpSync(join(closure, p.slice(11)), join(copy, p.slice(11)), { recursive: true, verbatimSymlinks: true });
    const helloDir = hello.split("/")[3]!;
    chmodSync(join(copy, helloDir, "bin"), 0o755);
    chmodSync(join(copy, helloDir, "bin/hello"), 0o755);
    writeFileSync(join(copy, helloDir, "bin/hello"), "changed");
    const changed = (await must([enter, "--nar-hash", copy, ...entries()])).split("\n");
    expect(changed.filter((h, i) => h !== want[i])).toHaveLength(1);
    expect(changed[entries().indexOf(helloDir)]).not.toBe(want[entries().indexOf(helloDir)]);
  });

  test("a launcher with only the archive unpacks it into the user's private cache, stamped complete, and runs the program; later runs map that entry", async () => {
    await runsHello();
    expect(cache()).toEqual(unpacked());
    const dir = statSync(cacheDir);
    expect([dir.uid, dir.mode & 0o777]).toEqual([PACKER, 0o700]);
    // The entry's closure is the archive's content, and its stamp names the archive and its nodes.
    expect(await narOf(closureOf(cacheDir))).toBe(sha256);
    expect(stampOf(cacheDir)).toBe(`rules_nixstore-nar 1 ${sha256} ${nodes(closureOf(cacheDir))}\n`);

    const before = statSync(closureOf(cacheDir));
    await runsHello();
    const after = statSync(closureOf(cacheDir));
    expect([after.ino, after.ctimeMs]).toEqual([before.ino, before.ctimeMs]);
  });

  test("an entry that an age-based /tmp cleaner half emptied, or whose stamp it removed, is unpacked again", async () => {
    await runsHello();
    const closureDir = closureOf(cacheDir);
    const complete = nodes(closureDir);
    // As systemd-tmpfiles or tmpreaper remove old files: one by one, here the program itself and
    // a library, leaving the stamp.
    const helloDir = join(closureDir, hello.split("/")[3]!);
    await must(["rm", "-rf", join(helloDir, "bin/hello"), join(closureDir, closurePaths.find((p) => p.endsWith("-glibc"))!.slice(11), "lib")]);
    expect(nodes(closureDir)).toBeLessThan(complete);
    await runsHello();
    expect(nodes(closureOf(cacheDir))).toBe(complete);
    expect(await narOf(closureOf(cacheDir))).toBe(sha256);
    expect(cache()).toEqual(unpacked());

    // Every file there, but no stamp (the cleaner took it): the launcher never stamps an entry
    // it did not unpack, so a stamp again means a new entry.
    rmSync(join(cacheDir, `${sha256}.entry`, "complete"), { force: true });
    await runsHello();
    expect(stampOf(cacheDir)).toBe(`rules_nixstore-nar 1 ${sha256} ${complete}\n`);
    expect(await narOf(closureOf(cacheDir))).toBe(sha256);
    expect(cache()).toEqual(unpacked());
  });

  test("unpackings left by killed launchers are swept once stale; a recent one and one a live launcher holds are not", async () => {
    await runsHello();
    // What a killed unpack leaves: a `.tmp-` directory with part of a closure, read-only files.
    const plant = (name: string, ageSeconds: number) => {
      const dir = join(cacheDir, name);
      mkdirSync(join(dir, "closure/x-part/bin"), { recursive: true });
      writeFileSync(join(dir, "closure/x-part/bin/tool"), "half", { mode: 0o555 });
      const when = new Date(Date.now() - ageSeconds * 1000);
      for (const p of [join(dir, "closure/x-part/bin"), join(dir, "closure/x-part"), join(dir, "closure"), dir]) utimesSync(p, when, when);
      return dir;
    };
    const dead = plant(".tmp-0123456789abcdef-dead-0", 3600);
    const recent = plant(".tmp-0123456789abcdef-recent-0", 60);
    const held = plant(".tmp-0123456789abcdef-held-0", 3600);
    await must(["chown", "-R", `${PACKER}:${PACKER}`, cacheDir]);
    // A live launcher unpacking into `held` holds its lock (flock), as long as it runs.
    const holder = execa("flock", ["--exclusive", "--no-fork", held, "sleep", "120"], { reject: false, stdio: "ignore" });
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      await runsHello();
      expect(cache()).toEqual([...[held, recent].map((d) => d.slice(cacheDir.length + 1)).sort(), ...unpacked()].sort());
    } finally {
      holder.kill();
      await holder;
    }
    // Once its launcher is gone, the next one removes it.
    await runsHello();
    expect(cache()).toEqual([recent.slice(cacheDir.length + 1), ...unpacked()].sort());
  });

  test("a tampered or truncated archive is refused: exit 126 naming the archive, and no entry or unpacking is left in the cache", async () => {
    const bytes = readFileSync(nar);
    const tampered = Buffer.from(bytes);
    tampered[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(join(tmp, "tampered.nar"), tampered);
    const t = await asPacker([inputRoot(join(tmp, "tampered.nar"))]);
    expect(t.exitCode, explain(t)).toBe(126);
    expect(t.stderr).toContain("closure.nar does not match the sha256 its launcher names");
    expect(t.stderr).toContain(sha256);
    expect(t.stderr).toContain(sha256Of(join(tmp, "tampered.nar")));
    expect(t.stdout).toBe("");
    // The archive's lock file only.
    expect(cache()).toEqual([`${sha256}.lock`]);

    writeFileSync(join(tmp, "truncated.nar"), bytes.subarray(0, bytes.length - 1000));
    const c = await asPacker([inputRoot(join(tmp, "truncated.nar"))]);
    expect(c.exitCode, explain(c)).toBe(126);
    expect(c.stderr).toContain("ends early");
    expect(cache()).toEqual([`${sha256}.lock`]);
  });

  test("a cache path squatted by another user, open to others, a symlink or a file: a private directory beside it is used, and the path is left alone", async () => {
    const target = join(tmp, "planted-target");
    const cases: Array<[string, string, () => void]> = [
      ["another user's directory", "it belongs to another user", () => mkdirSync(cacheDir, { mode: 0o700 })],
      ["the user's own, open to others", "it is open to other users (not mode 0700)", () => {
        mkdirSync(cacheDir);
        chmodSync(cacheDir, 0o777);
        chownSync(cacheDir, PACKER, PACKER);
      }],
      ["a symlink to a directory of the user's", "it is a symbolic link", () => {
        mkdirSync(target, { mode: 0o700 });
        chownSync(target, PACKER, PACKER);
        symlinkSync(target, cacheDir);
      }],
      ["a file", "it is not a directory", () => writeFileSync(cacheDir, "squatted\n", { mode: 0o666 })],
    ];
    for (const [what, why, plant] of cases) {
      rmSync(cacheDir, { recursive: true, force: true });
      for (const p of privateCaches()) rmSync(p, { recursive: true, force: true });
      plant();
      const squatted = lstatSync(cacheDir);
      const r = await runsHello();
      const [made, ...more] = privateCaches();
      expect(more, what).toEqual([]);
      expect(made, what).toMatch(new RegExp(`^${cacheDir}\\.[A-Za-z0-9]{6}$`));
      expect(r.stderr, what).toBe(`rules_nixstore launcher: note: ${cacheDir} cannot be used (${why}): closure archives are unpacked into ${made} instead.`);
      const dir = lstatSync(made!);
      expect([dir.isDirectory(), dir.uid, dir.mode & 0o777], what).toEqual([true, PACKER, 0o700]);
      expect(list(made!), what).toEqual(unpacked());
      expect(await narOf(closureOf(made!)), what).toBe(sha256);
      // Later launchers find it again, quietly.
      const again = await runsHello();
      expect(again.stderr, what).toBe("");
      expect(privateCaches(), what).toEqual([made]);
      // Nothing was done to the squatted path.
      const now = lstatSync(cacheDir);
      expect([now.ino, now.uid, now.mode, now.mtimeMs], what).toEqual([squatted.ino, squatted.uid, squatted.mode, squatted.mtimeMs]);
      if (now.isDirectory() && !now.isSymbolicLink()) expect(readdirSync(cacheDir), what).toEqual([]);
    }
    expect(readdirSync(target)).toEqual([]);
  });

  test("another user's directories named like a private cache are not taken", async () => {
    // Planted before the launcher looks: owned by root (mode 0700) or open to all.
    mkdirSync(cacheDir, { mode: 0o700 });
    const planted = [`${cacheDir}.AAAAAA`, `${cacheDir}.AAAAAB`];
    mkdirSync(planted[0]!, { mode: 0o700 });
    mkdirSync(planted[1]!);
    chmodSync(planted[1]!, 0o777);
    await runsHello();
    const made = privateCaches().filter((p) => !planted.includes(p));
    expect(made).toHaveLength(1);
    expect(list(made[0]!)).toEqual(unpacked());
    for (const p of planted) expect(readdirSync(p)).toEqual([]);
  });

  test("the entry is checked and bound through one descriptor: no path of the cache is looked up between the check and the mount", async () => {
    await runsHello();
    const traces = join(tmp, "packer-traces");
    mkdirSync(traces, { recursive: true });
    chownSync(traces, PACKER, PACKER);
    const trace = join(traces, "packed.trace");
    const r = await asPacker(["strace", "-f", "-qq", "-s", "256", "-e", "trace=%file,%desc,mount", "-o", trace, inputRoot(nar), "x"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.stdout).toBe("hello from nix");
    const calls = readFileSync(trace, "utf8").split("\n").map((l) => l.replace(/^\d+\s+/, ""));
    // The closure is opened relative to its entry's descriptor, counted through it, then bound.
    const opened = calls.findIndex((l) => /^openat\(\d+, "closure", [A-Z_|]*O_DIRECTORY[A-Z_|]*\) = \d+$/.test(l));
    expect(opened, calls.join("\n")).toBeGreaterThan(0);
    const fd = /= (\d+)$/.exec(calls[opened]!)![1];
    const bound = calls.findIndex((l) => l.startsWith(`mount("/proc/self/fd/${fd}", `));
    expect(bound, calls.join("\n")).toBeGreaterThan(opened);
    const between = calls.slice(opened + 1, bound);
    expect(between.filter((l) => l.includes(cacheDir) || l.includes(".entry") || l.includes('"closure"')), between.join("\n")).toEqual([]);
    // The stamp was read through the entry's descriptor before.
    expect(calls.slice(0, opened).some((l) => /^openat\(\d+, "complete", /.test(l))).toBe(true);
  });

  test("launchers started together on an empty cache all run, and leave one entry and no unpacking behind", async () => {
    const launchers = Array.from({ length: 8 }, () => inputRoot(nar));
    const results = await Promise.all(launchers.map((l) => asPacker([l])));
    for (const r of results) {
      expect(r.exitCode, explain(r)).toBe(0);
      expect(r.stdout).toBe("hello from nix");
    }
    expect(cache()).toEqual(unpacked());
  });
});
