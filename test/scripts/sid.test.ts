// scripts/sid and scripts/bazel7, the Bazel 7.7.1 + Nix 2.34 test environment: what runs inside
// sees the caller's directories at the same paths, user namespaces and Bazel's linux-sandbox work
// there, exit statuses come back, and bad states (no space, a broken root, no user namespaces,
// a root that is not there for a user who cannot create it) fail naming the cause and the fix.
// The sid root is the real one, created on first use (scripts/sid is called by the test suites
// before this file, or here).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT, SID_ROOT } from "../integration/flavors.js";

const SID = join(REPO_ROOT, "scripts/sid");
const BAZEL7 = join(REPO_ROOT, "scripts/bazel7");
const root = process.getuid?.() === 0;

const sid = (args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) =>
  execa(SID, args, { reject: false, all: true, stdin: "ignore", ...opts });

describe("scripts/sid and scripts/bazel7", () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "nixstore-sid-"));
    // Creates the root if this machine has none yet (minutes, once).
    const first = await sid(["true"]);
    expect(first.exitCode, first.all).toBe(0);
  });
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  test("scripts/bazel7 runs Bazel 7.7.1, whose PATH has Nix 2.34, and exits with Bazel's status", async () => {
    const version = await execa(BAZEL7, ["--version"], { reject: false, all: true });
    expect(version.exitCode, version.all).toBe(0);
    expect(version.stdout).toMatch(/^bazel 7\.7\.1$/m);
    const nix = await sid(["nix-build", "--version"]);
    expect(nix.stdout).toMatch(/^nix-build \(Nix\) 2\.34\./);
    // Bazel's own exit codes come back: 2 is a command-line error.
    const bad = await execa(BAZEL7, ["--output_base=" + join(tmp, "ob"), "no-such-command"], { reject: false, all: true, cwd: tmp });
    expect(bad.exitCode, bad.all).toBe(2);
    await execa(BAZEL7, ["--output_base=" + join(tmp, "ob"), "shutdown"], { reject: false, cwd: tmp });
  });

  test("the command runs in the caller's directory; /tmp, the workspace and $HOME are shared", async () => {
    const dir = join(tmp, "cwd");
    mkdirSync(dir);
    writeFileSync(join(dir, "from-host"), "host\n");
    const r = await sid(["sh", "-c", 'pwd; cat from-host; echo sid > from-sid; test -d "$HOME" && echo home; exit 7'], { cwd: dir });
    expect(r.exitCode).toBe(7);
    expect(r.stdout).toBe(`${dir}\nhost\nhome`);
    expect(readFileSync(join(dir, "from-sid"), "utf8")).toBe("sid\n");
    // The checkout, wherever it is, and the sid root's own /usr (Debian sid, not bookworm).
    const where = await sid(["sh", "-c", `test -x ${JSON.stringify(BAZEL7)} && . /etc/os-release && echo $VERSION_CODENAME`]);
    expect(where.stdout).toMatch(/^(sid|forky|trixie)/);
  });

  test("user namespaces and Bazel 7's linux-sandbox work inside (pivot_root, not chroot)", async () => {
    const userns = await sid(["unshare", "--user", "--map-root-user", "--mount", "true"]);
    expect(userns.exitCode, userns.all).toBe(0);
    const ws = join(tmp, "ws");
    mkdirSync(ws);
    writeFileSync(join(ws, "MODULE.bazel"), 'module(name = "sidtest")\n');
    writeFileSync(join(ws, "BUILD.bazel"), 'genrule(name = "g", outs = ["g.txt"], cmd = "echo sandboxed > $@")\n');
    const r = await execa(BAZEL7, [`--output_base=${join(tmp, "ob")}`, "build", "--spawn_strategy=linux-sandbox", "//:g"], {
      cwd: ws,
      reject: false,
      all: true,
    });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/1 linux-sandbox/);
    expect(readFileSync(join(ws, "bazel-bin/g.txt"), "utf8")).toBe("sandboxed\n");
    await execa(BAZEL7, [`--output_base=${join(tmp, "ob")}`, "shutdown"], { reject: false, cwd: ws });
  });

  test("a root recorded as ready but missing Bazel is reported as broken, with the fix", async () => {
    const fake = join(tmp, "broken-root");
    mkdirSync(join(fake, ".rules_nixstore"), { recursive: true });
    writeFileSync(join(fake, ".rules_nixstore/ready"), readFileSync(join(SID_ROOT, ".rules_nixstore/ready")));
    const r = await sid(["true"], { env: { NIXSTORE_SID_ROOT: fake } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`the sid root ${fake} is broken: /usr/bin/bazel is missing`);
    expect(r.stderr).toContain(`rm -rf ${fake}`);
  });

  test.runIf(root)("an interrupted provisioning resumes where it stopped: the finished debootstrap is kept", async () => {
    // A second root beside the machine's (same file system): killed once the packages stage
    // has begun, then run again. Needs the Debian mirror, like the first provisioning.
    const resumed = join(SID_ROOT, "..", `sid-root-resume-test-${process.pid}`);
    const env = { NIXSTORE_SID_ROOT: resumed };
    try {
      // Its own process group, so that the kill reaches apt and dpkg too (as a Ctrl-C would).
      const first = execa(SID, ["true"], { reject: false, all: true, env, detached: true });
      const deadline = Date.now() + 600_000;
      while (!existsSync(join(resumed, ".rules_nixstore/debootstrap"))) {
        expect(Date.now(), "debootstrap did not finish in 10 minutes").toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 500));
      }
      // Inside the packages stage now: interrupt it as a killed CI job would be.
      await new Promise((r) => setTimeout(r, 5000));
      process.kill(-first.pid!, "SIGKILL");
      await first;
      expect(existsSync(join(resumed, ".rules_nixstore/ready"))).toBe(false);
      const again = await execa(SID, ["sh", "-c", "bazel --version && nix-build --version"], { reject: false, all: true, env });
      expect(again.exitCode, again.all).toBe(0);
      expect(again.stderr).not.toContain("debootstrap sid");
      expect(again.stderr).toContain("installing bazel-bootstrap");
      expect(again.stdout).toMatch(/^bazel 7\.7\.1$/m);
    } finally {
      await execa("rm", ["-rf", resumed, `${resumed}.lock`, `${resumed}.log`, `${resumed}.partial`], { reject: false });
    }
  });

  test.runIf(root)("not enough space for a new root: the directory, the free space and what to do", async () => {
    // A 16 MiB tmpfs in a private mount namespace stands in for a full disk.
    const small = join(tmp, "small");
    mkdirSync(small);
    const r = await execa(
      "unshare",
      ["--mount", "--propagation", "private", "--", "sh", "-c", 'mount -t tmpfs -o size=16m tmpfs "$1" && exec "$2" true', "sh", small, SID],
      { reject: false, all: true, env: { NIXSTORE_SID_ROOT: join(small, "sid-root") } },
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`not enough space for the sid root in ${small}: \\d+ MiB free, 3500 MiB needed`));
    expect(r.stderr).toContain("set NIXSTORE_SID_ROOT");
  });

  test.runIf(root)("no user namespaces (inside a chroot): names the cause and the sysctl that allows them", async () => {
    // The kernel refuses CLONE_NEWUSER to a chrooted process, as a locked-down container would.
    const jail = join(tmp, "jail");
    mkdirSync(jail);
    const r = await execa(
      "unshare",
      ["--mount", "--propagation", "private", "--", "sh", "-c", 'mount --rbind / "$1" && exec chroot "$1" "$2" true', "sh", jail, SID],
      { reject: false, all: true },
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("this process may not create user namespaces");
    expect(r.stderr).toMatch(/user\.max_user_namespaces = \d+/);
    expect(r.stderr).toContain("sysctl -w user.max_user_namespaces=");
  });

  test.runIf(root)("an unprivileged user without a root is told to create it as root, and runs Bazel 7 once it exists", async () => {
    await execa("sh", ["-c", "id nixstore-sidtest >/dev/null 2>&1 || useradd --system --create-home nixstore-sidtest"]);
    const missing = join(tmp, "no-root-here");
    const denied = await execa("su", ["nixstore-sidtest", "-s", "/bin/sh", "-c", `NIXSTORE_SID_ROOT=${missing} ${SID} true`], {
      reject: false,
      all: true,
      cwd: "/",
    });
    expect(denied.exitCode).toBe(1);
    expect(denied.stderr).toContain("creating it needs root");
    expect(denied.stderr).toContain(`sudo ${join(REPO_ROOT, "scripts")}/sid true`);
    expect(existsSync(missing)).toBe(false);
    // With the machine's root, the same user runs Bazel 7 (in a user namespace of its own).
    const ok = await execa("su", ["nixstore-sidtest", "-s", "/bin/sh", "-c", `${BAZEL7} --version`], { reject: false, all: true, cwd: "/" });
    expect(ok.exitCode, ok.all).toBe(0);
    expect(ok.stdout).toMatch(/^bazel 7\.7\.1$/m);
  });
});
