// The two machines every integration suite runs on: Debian bookworm's Bazel 4.2.3 with Nix 2.8
// (WORKSPACE), and Debian sid's Bazel 7.7.1 with Nix 2.34 (bzlmod) in the sid root of
// scripts/sid. Both are real; a suite says which difference between them a test covers.
//
// NIXSTORE_TEST_BAZEL selects them: "4", "7" or "4,7" (the default: both).
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The sid root of scripts/sid (its NIXSTORE_SID_ROOT, or the default). */
export const SID_ROOT = process.env.NIXSTORE_SID_ROOT ?? "/var/cache/rules_nixstore/sid-root";

/** Where Bazel, Nix and nixgen run, and how the workspace declares its packages. */
export interface Flavor {
  /** Short id: "bazel4" or "bazel7". */
  readonly id: "bazel4" | "bazel7";
  /** For test titles: "Bazel 4.2.3 + Nix 2.8 (WORKSPACE)". */
  readonly title: string;
  /** Whether workspaces use MODULE.bazel and the nixstore extension (else WORKSPACE). */
  readonly bzlmod: boolean;
  /** The Bazel command. */
  readonly bazel: string;
  /** Nix's version line prefix, e.g. "2.8" (messages and options differ between versions). */
  readonly nixVersion: string;
  /** The root of the machine's file system as the host sees it ("" for the host itself). */
  readonly rootDir: string;
  /** The machine's default PATH (what repository rules see unless a test changes it). */
  readonly path: string;
  /** argv that runs `argv` on this machine (in the sid root for Bazel 7). */
  command(argv: readonly string[]): [string, string[]];
  /** The directory name of repository `name` under `<output_base>/external`. */
  canonical(name: string): string;
}

export const BAZEL4: Flavor = {
  id: "bazel4",
  title: "Bazel 4.2.3 + Nix 2.8 (WORKSPACE)",
  bzlmod: false,
  bazel: "bazel",
  nixVersion: "2.8",
  rootDir: "",
  path: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
  command: (argv) => [argv[0]!, argv.slice(1)],
  canonical: (name) => name,
};

export const BAZEL7: Flavor = {
  id: "bazel7",
  title: "Bazel 7.7.1 + Nix 2.34 (bzlmod)",
  bzlmod: true,
  bazel: join(REPO_ROOT, "scripts/bazel7"),
  nixVersion: "2.34",
  rootDir: SID_ROOT,
  path: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  command: (argv) => [join(REPO_ROOT, "scripts/sid"), [...argv]],
  // Repositories of the nixstore extension, which rules_nixstore (a bazel_dep) defines.
  canonical: (name) => `rules_nixstore~~nixstore~${name}`,
};

function selected(): Flavor[] {
  const want = (process.env.NIXSTORE_TEST_BAZEL ?? "4,7").split(",").map((s) => s.trim());
  const all = [BAZEL4, BAZEL7].filter((f) => want.includes(f.id.slice("bazel".length)));
  if (all.length === 0) throw new Error(`NIXSTORE_TEST_BAZEL=${process.env.NIXSTORE_TEST_BAZEL}: say 4, 7 or 4,7`);
  return all;
}

/** The flavors this run tests. */
export const FLAVORS: readonly Flavor[] = selected();

/** The machine's /nix/store as the host sees it. */
export function storeDir(flavor: Flavor): string {
  return join(flavor.rootDir || "/", "nix/store");
}

/** Whether the machine has the mount target of `--sandbox_add_mount_pair` (/nix/store). */
export function hasMountTarget(flavor: Flavor): boolean {
  return existsSync(storeDir(flavor));
}
