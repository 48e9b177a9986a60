/**
 * How nixgen drives Bazel in a workspace (`nixgen lock`, `nixgen gc`): it runs the workspace's
 * bazel with its startup options, reports a failed run with Bazel's errors (naming packages as
 * the user does, not by bzlmod's canonical names), and asks Bazel what both commands need to
 * know: the output base, and the packages the workspace declares.
 */
import { EXTENSION_LABEL } from "../model/index.js";
import { commandFailure, runCommand, type CommandResult } from "../run-command.js";

/** Which Bazel runs, and where. */
export interface BazelOptions {
  /** The Bazel workspace; Bazel runs there. */
  readonly workspace: string;
  /** The bazel executable (default "bazel"). */
  readonly bazel?: string;
  /** Bazel startup options, e.g. ["--output_base=/x"]. */
  readonly startupOptions?: readonly string[];
}

/** Raised when Bazel fails; its message says the command, the workspace, the exit code and Bazel's errors. */
export class BazelError extends Error {}

/** The Starlark rule class of nixpkgs_package, as `bazel query` names it. */
export const PACKAGE_RULE_CLASS = "nixpkgs_package_rule";

/** The rule class of nixpkgs_cc_configure's toolchain repository (`@<name>`), which lays out a closure as packages do. */
export const CC_TOOLCHAIN_RULE_CLASS = "nixpkgs_cc_toolchain";

/** The module extension's tag of packages, and that of C/C++ toolchains. */
export const PACKAGE_TAG = "package";
export const CC_TOOLCHAIN_TAG = "cc_configure";

/** The module extension whose package tags declare the packages under bzlmod. */
export const EXTENSION = EXTENSION_LABEL;

/** The command line that runs Bazel with `args`. */
export function bazelArgv(options: BazelOptions, args: readonly string[]): string[] {
  return [options.bazel ?? "bazel", ...(options.startupOptions ?? []), ...args];
}

/** Runs Bazel in the workspace and returns what it did; never throws for Bazel's failure. */
export function tryBazel(options: BazelOptions, args: readonly string[]): Promise<CommandResult> {
  return runCommand(bazelArgv(options, args), { cwd: options.workspace });
}

/**
 * `text` with the canonical names of the packages `names` (repositories of the nixstore
 * extension: `rules_nixstore~~nixstore~jq` on Bazel 7, `rules_nixstore++nixstore+jq` on Bazel 8)
 * replaced by their apparent names, so messages name packages as the user does; file paths
 * are left alone.
 */
export function withApparentNames(text: string, names: readonly string[]): string {
  let out = text;
  for (const name of names) {
    const quoted = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    // Not inside a file path (`.../external/<canonical>/...`): a path stays as it is.
    const canonical = new RegExp(`(?<![\\w.~+/-])(@@)?[\\w.~+-]*[~+]nixstore[~+]${quoted}(?![\\w.~+-])`, "g");
    out = out.replace(canonical, (_m, at: string | undefined) => (at ? `@${name}` : name));
  }
  return out;
}

/** Bazel's error lines in its output (the last 40), or all of it when none looks like an error. */
function bazelErrors(result: CommandResult, shown: boolean): string {
  const errors = result.stderr
    .split("\n")
    .filter((l) => /^(ERROR|FATAL)|nixpkgs_package\(|^\s{2}|error:/.test(l))
    .slice(-40)
    .join("\n");
  return errors ? `:\n${errors}` : shown ? " (its output is above)" : `:\n${result.stderr.trim()}`;
}

/**
 * Runs Bazel in the workspace; on failure throws a BazelError with its errors, naming the
 * packages `names` by their apparent names. With `show`, Bazel's output goes to the terminal.
 */
export async function runBazel(
  options: BazelOptions,
  args: readonly string[],
  show: boolean,
  names: readonly string[] = [],
): Promise<{ stdout: string; output: string }> {
  const result = await runCommand(bazelArgv(options, args), { cwd: options.workspace, showStderr: show });
  if (result.failed) {
    throw new BazelError(`${commandFailure(result)}${withApparentNames(bazelErrors(result, show), names)}`);
  }
  return { stdout: result.stdout, output: result.stderr };
}

/** Bazel's output base for the workspace (`bazel info output_base`). */
export async function bazelOutputBase(options: BazelOptions): Promise<string> {
  return (await runBazel(options, ["info", "output_base"], false)).stdout.trim();
}

/**
 * Names of a WORKSPACE's nixpkgs_package repositories (or of those of other `ruleClasses`), from
 * `bazel query` of //external (for workspaces without a nixgen.config.ts; under bzlmod there is
 * no //external).
 */
export async function discoverPackages(
  options: BazelOptions,
  ruleClasses: readonly string[] = [PACKAGE_RULE_CLASS],
): Promise<string[]> {
  const query = ruleClasses.map((c) => `kind("${c} rule", //external:*)`).join(" + ");
  const { stdout } = await runBazel(options, ["query", query, "--output=label"], false);
  return stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("//external:"))
    .map((l) => l.slice("//external:".length))
    .sort();
}

/**
 * The name of every package tag (or tag of `tags`), of every module, in `bazel mod
 * show_extension`'s output.
 */
export function packageTags(stdout: string, tags: readonly string[] = [PACKAGE_TAG]): string[] {
  const names = new Set<string>();
  for (const line of stdout.split("\n")) {
    const tag = /^\w+\.(\w+)\((.*)\)\s*$/.exec(line.trim());
    if (tag === null || !tags.includes(tag[1]!)) continue;
    const name = /(?:^|[\s,])name\s*=\s*"([^"]+)"/.exec(tag[2]!);
    if (name) names.add(name[1]!);
  }
  return [...names].sort();
}
