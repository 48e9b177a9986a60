// Bazel fetches repositories in parallel, and every package of an output base shares one chroot
// Nix store. Single-user Nix 2.8 fails concurrent first use of a fresh store (`SQLite database
// ... is busy`, `.../db/schema' is corrupt`): this proves 24 packages fetched at once into a
// fresh store all succeed.
import { afterAll, describe, expect, test } from "vitest";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { FLAVORS, explain, hasMountTarget, makeWorkspace, type Flavor, type Workspace } from "./harness.js";

/** Build-user locks of the machine's Nix (as root, Nix takes `nixbld` users through these). */
function hostUserpool(flavor: Flavor): string[] {
  const dir = join(flavor.rootDir || "/", "nix/var/nix/userpool");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map((f) => `${f}@${statSync(`${dir}/${f}`).mtimeMs}`).sort();
}

const NAMES = Array.from({ length: 24 }, (_, i) => `tiny${String(i + 1).padStart(2, "0")}`);

describe.each(FLAVORS)("many packages fetched in one build, $title", (flavor) => {
  let ws: Workspace | undefined;
  afterAll(async () => {
    await ws?.close();
  });

  test("24 packages fetched concurrently into a fresh store all build and run", async () => {
    ws = await makeWorkspace(flavor, {
      packages: NAMES.map((name) => ({ name })),
      build: NAMES.map(
        (n) => `genrule(name = "${n}_out", outs = ["${n}.txt"], tools = ["@${n}//:bin/${n}"], cmd = "$(location @${n}//:bin/${n}) > $@")\n`,
      ).join(""),
    });
    const userpoolBefore = hostUserpool(flavor);
    // Two rounds, each from a fresh store: without the locked store init the race hit about
    // one run in four here, so one round alone would often miss a regression.
    for (const round of [1, 2]) {
      if (round > 1) {
        await ws.bazel(["clean", "--expunge"]);
        await ws.writeBazelrc(hasMountTarget(flavor));
      }
      // A fresh store: no Nix database yet (nixgen bazelrc only creates the empty mount source).
      expect(existsSync(join(ws.outputBase, "nixstore/nix/var/nix/db/db.sqlite"))).toBe(false);
      // As many loading threads as packages, so that fetches really overlap on 2 cores.
      const result = await ws.bazel(["build", "--loading_phase_threads=24", "//..."]);
      expect(result.exitCode, `round ${round}: ${explain(result)}`).toBe(0);
      for (const n of NAMES) expect(ws.bin(`${n}.txt`)).toBe(`${n}\n`);
    }
    // No build users: builds of other stores cannot kill these builders, and the host's /nix
    // is not written to.
    expect(hostUserpool(flavor)).toEqual(userpoolBefore);
  });
});
