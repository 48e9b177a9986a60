// The shell scripts the repository rules run, with stand-ins for the commands around them (no
// Bazel, no Nix): remote_build.sh, which builds a remotable package where Bazel runs remotable
// rules and prints its record and archive, and machine_cache_import.sh, which brings store paths
// from the machine cache into an output base's store under two locks.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execa } from "execa";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../integration/flavors.js";

const REMOTE_BUILD = join(REPO_ROOT, "rules/private/remote_build.sh");
const IMPORT = join(REPO_ROOT, "rules/private/machine_cache_import.sh");
const OUT = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-fake";
const NAR_HASH = "sha256:0123456789abcdfghijklmnpqrsvwxyz0123456789abcdfghijk";

let tmp = "";

/** Writes an executable shell script `name` into `dir`. */
function tool(dir: string, name: string, body: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(dir, name), 0o755);
}

/** A directory of links to every command of /usr/bin but those named. */
function usrBinWithout(dir: string, left: string[]): string {
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync("/usr/bin")) if (!left.includes(name)) symlinkSync(`/usr/bin/${name}`, join(dir, name));
  return dir;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "nixstore-rule-scripts-"));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe("remote_build.sh", () => {
  /**
   * Stand-ins for Nix (one output, its closure is itself) and a tar whose archive is `tarBody`
   * (shell code writing to stdout); gzip and base64 are the real ones.
   */
  function fakes(name: string, tarBody: string): string {
    const bin = join(tmp, name);
    tool(bin, "nix-build", `echo ${OUT}`);
    tool(bin, "nix-store", `case "$2" in --requisites) echo "$3" ;; --hash) for p in "$@"; do case $p in /nix/*) echo ${NAR_HASH} ;; esac; done ;; esac`);
    tool(bin, "nix-hash", `sha256sum < "$4" | cut -d' ' -f1`);
    tool(bin, "nix-prefetch-url", "exit 1");
    // The first tar only checks for GNU tar's --sort (its member list is /dev/null).
    tool(bin, "tar", `case "$*" in *--files-from=/dev/null*) exit 0 ;; esac\n${tarBody}`);
    return bin;
  }

  const run = (bin: string) =>
    execa("/bin/sh", [REMOTE_BUILD, "fake", "1000000", "--", "-A", "fake"], {
      reject: false,
      env: { PATH: `${bin}:/usr/bin:/bin`, LC_ALL: "C", HOME: tmp, TMPDIR: tmp },
      extendEnv: false,
    });

  test("prints its record: the output, each path's NAR hash, and the archive's size and sha256 before the archive", async () => {
    const r = await run(fakes("ok-bin", "printf 'archived members'"));
    expect(r.exitCode, r.stderr).toBe(0);
    const [header = "", data = ""] = r.stdout.split("\ndata\n");
    const archive = Buffer.from(data, "base64");
    const sha256 = createHash("sha256").update(archive).digest("hex");
    expect(header.split("\n")).toEqual([
      "nixstore-remote-build 2",
      `out ${OUT}`,
      `path ${OUT} ${NAR_HASH}`,
      `archive ${archive.length} ${sha256}`,
    ]);
  });

  test("a failed tar fails the build (pipefail), instead of sending the archive gzip made of what tar wrote", async () => {
    // On a shell without `set -o pipefail` (Debian bookworm's dash), the script runs itself again
    // with bash: either way, tar's failure must not be hidden behind gzip's success.
    const r = await run(fakes("failing-bin", "printf 'half an archive'\necho 'tar: disk error' >&2\nexit 2"));
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain("tar: disk error");
    expect(r.stderr).toContain(`rules_nixstore remote build of fake: archiving the closure of ${OUT} failed (tar or gzip, see the message above)`);
    expect(r.stdout).not.toContain("data");
  });
});

describe("machine_cache_import.sh", () => {
  test("without flock on PATH it fails naming flock and both stores, and imports nothing", async () => {
    const cache = join(tmp, "cache");
    const ob = join(tmp, "output-base-store");
    for (const root of [cache, ob]) mkdirSync(join(root, "nix/var/nix"), { recursive: true });
    const nixStore = join(tmp, "import-bin/nix-store");
    tool(join(tmp, "import-bin"), "nix-store", `echo "nix-store $*" >> ${JSON.stringify(join(tmp, "nix-store.log"))}`);
    const path = usrBinWithout(join(tmp, "no-flock-bin"), ["flock"]);
    const r = await execa("/bin/sh", [IMPORT, cache, ob, nixStore, OUT], { reject: false, env: { PATH: path }, extendEnv: false });
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toBe(
      `machine_cache_import.sh: flock is not on PATH (${path}): the machine cache ${cache} and the output base's store ${ob} are locked with it ` +
        "while paths are brought in, and this does not run unlocked. Install flock (Debian and Ubuntu: apt-get install util-linux) or put it " +
        "on the PATH that Bazel fetches with (--repo_env=PATH=...).",
    );
    expect(existsSync(join(tmp, "nix-store.log"))).toBe(false);
    expect(r.stdout).toBe("");
  });
});
