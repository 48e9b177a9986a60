// Every test file gets a machine cache of its own (RULES_NIXSTORE_MACHINE_CACHE, read by the
// package repositories of every Bazel it starts), deleted afterwards: no test shares built
// store paths with another file or with the user's real cache. The harness's workspaces set a
// cache of their own on top (Workspace.machineCache).
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "nixstore-machine-cache-"));
process.env.RULES_NIXSTORE_MACHINE_CACHE = dir;

afterAll(() => {
  // The store's files and directories are read-only.
  execFileSync("chmod", ["-R", "u+w", dir]);
  execFileSync("rm", ["-rf", dir]);
});
