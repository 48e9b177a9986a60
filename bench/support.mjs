// What the stand-alone benchmarks (lock-fast-path.mjs, machine-cache.mjs) share: paths of the
// checkout, a command runner that reports failures, and the machine facts every result records.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const FIXTURE = path.join(REPO, "test/fixtures/nixpkgs");
export const NIXGEN = path.join(REPO, "dist/generator/cli.js");

/** @param {string} msg @returns {never} */
export function die(msg) {
  throw new Error(msg);
}

/**
 * Runs a command; on failure, throws with the command, its exit status and the end of its stderr.
 * @param {string} cmd @param {string[]} args @param {import("node:child_process").SpawnSyncOptions} [opts]
 */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 256 << 20, ...opts });
  if (r.error) die(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) die(`${cmd} ${args.join(" ")} exited ${r.status}:\n${String(r.stderr).slice(-4000)}`);
  return String(r.stdout);
}

/** The path of `cmd` on PATH. @param {string} cmd */
export function which(cmd) {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && fs.existsSync(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return die(`${cmd} is not on PATH`);
}

/** Every file below `dir` (following no symlinks). @param {string} dir @returns {string[]} */
export function walk(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

/** The median (the lower middle of an even count). @param {number[]} xs */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

/** Rounded to two decimals. @param {number} x */
export const r2 = (x) => Math.round(x * 100) / 100;

/** The machine a result was measured on: CPUs, kernel, Node, Bazel and Nix versions, load. */
export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpu_model: cpus[0]?.model ?? "",
    kernel: os.release(),
    node: process.version,
    bazel: run("dpkg-query", ["-W", "-f=${Version}", "bazel-bootstrap"]).trim() || "unknown",
    nix: run("nix-build", ["--version"]).trim(),
    loadavg_at_end: os.loadavg().map(r2),
  };
}
