// nixpkgs_package(store = "system"): builds into the host's /nix/store (no --store), still lays
// the closure out into the repository, and takes the lock fast path there too. The "host" is a
// private mount namespace whose /nix is a temp directory, so the machine's /nix stays untouched:
// Bazel's server is started inside it and inherits it.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Result } from "execa";
import { existsSync, mkdirSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { FLAVORS, NIXGEN, explain, makeWorkspace, storeDir, type PackageSpec, type Workspace } from "./harness.js";
import { makeEvalCounter, useEvalCounter, type EvalCounter } from "./lock-support.js";


const packages = (locked: boolean): PackageSpec[] => [
  { name: "greet", extra: `store = "system"${locked ? `,\n    lock = "//:nixstore.lock.json"` : ""}` },
  { name: "tiny01", ...(locked ? { extra: `lock = "//:nixstore.lock.json"` } : {}) },
];

const BUILD = `
genrule(
    name = "greet_out",
    outs = ["greet.txt"],
    tools = ["@greet//:bin/greet"],
    cmd = "$(location @greet//:bin/greet) system store > $@",
)
`;

// Mounting needs root; /nix must exist to mount onto.
describe.runIf(process.getuid?.() === 0 && existsSync("/nix")).each(FLAVORS)('store = "system": the host store, in a private /nix, $title', (flavor) => {
  let ws: Workspace;
  let counter: EvalCounter;
  let nix: string;

  /** Runs argv in a mount namespace where `nix` is mounted on /nix. */
  function inNamespace(argv: string[]): Promise<Result> {
    return ws.run(
      ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", 'mount --bind "$0" /nix && exec "$@"', nix, ...argv],
      // The host's Nix configuration, as a single-user install without build users has it
      // (Debian's nix-bin defaults to the group nixbld, which this machine need not have).
      { NIX_CONFIG: "build-users-group =" },
    );
  }
  // The machine's own bazel (in the sid root, Bazel 7), started inside the namespace.
  const bazel = (args: string[]) =>
    inNamespace(["bazel", `--output_base=${ws.outputBase}`, "--max_idle_secs=600", ...args]);

  beforeAll(async () => {
    // No mount pair: it would show the chroot store at /nix/store in the linux-sandbox and hide
    // the system store's paths (the launcher's bind of the repository's links to /nix/store/...
    // would then loop). Without it the sandbox shows the host's /nix/store, and the launcher
    // finds the program there.
    ws = await makeWorkspace(flavor, { packages: packages(false), build: BUILD, mountPair: false });
    nix = join(ws.root, "nix");
    mkdirSync(join(nix, "store"), { recursive: true });
    counter = makeEvalCounter(join(ws.root, "counter"), flavor);
    useEvalCounter(ws, counter);
  });

  afterAll(async () => {
    await bazel(["shutdown"]);
    await ws?.close();
  });

  test("builds into /nix/store, lays the closure out, and the launcher runs it", async () => {
    const hostBefore = readdirSync(storeDir(flavor));
    const r = await bazel(["build", "//:greet_out", "@tiny01//:closure"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(ws.bin("greet.txt")).toBe("greet from nix system store\n");
    const systemStore = readdirSync(join(nix, "store"));
    const greet = systemStore.find((e) => e.endsWith("-greet"));
    expect(greet, systemStore.join(" ")).toBeDefined();
    // The repository links to the (namespace's) /nix/store path itself ...
    expect(readlinkSync(join(ws.repoDir("greet"), "nix/store", greet!))).toBe(`/nix/store/${greet}`);
    // ... while tiny01 still lives in the output base's chroot store, and the host gained nothing.
    const chroot = readdirSync(join(ws.outputBase, "nixstore/nix/store"));
    expect(chroot.some((e) => e.endsWith("-tiny01"))).toBe(true);
    expect(chroot.some((e) => e.endsWith("-greet"))).toBe(false);
    expect(readdirSync(storeDir(flavor))).toEqual(hostBefore);
  });

  test("with the lock, a refetch from the system store runs no Nix evaluation", async () => {
    const lock = await inNamespace(["node", NIXGEN, "lock", "--workspace", ws.dir, "--output-base", ws.outputBase]);
    expect(lock.exitCode, explain(lock)).toBe(0);
    const pins = JSON.parse(ws.read("nixstore.lock.json")) as { packages: Record<string, { out: string[] }> };
    expect(pins.packages.greet!.out[0]).toMatch(/-greet$/);
    ws.writePackages(packages(true));
    counter.reset();
    const r = await bazel(["build", "//:greet_out", "@tiny01//:closure"]);
    expect(r.exitCode, explain(r)).toBe(0);
    expect(counter.lines()).toEqual([]);
  });
});
