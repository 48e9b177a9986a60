// Declaring remotable packages (rules/remotable.bzl) in a test workspace, and counting what the
// cluster's worker ran: shared by test/integration/remotable.test.ts and
// bench/remotable.bench.test.ts.
import { join } from "node:path";
import { DIAG, metric } from "./buildbarn.js";
import { declarations, starlarkList, type Flavor, type SourceSpec, type Workspace } from "./harness.js";

/** nixopts of the remotable packages: the pool has no binary cache (no network). */
const OFFLINE = ["--option", "substituters", ""];

/** A remotable package of a test workspace. */
export interface Remotable {
  name: string;
  /** Its attribute (none with `nix_file_content` that is the package itself). */
  attribute_path?: string;
  /** The nixpkgs repository (default "nixpkgs", the fixture as a nixpkgs_local_repository). */
  repository?: string;
  /** Extra Starlark keyword arguments. */
  extra?: string;
}

/** WORKSPACE (Bazel 4) or MODULE.bazel (Bazel 7): the fixture nixpkgs, and remotable packages. */
export function remotableDeclarations(flavor: Flavor, dir: string, packages: Remotable[], sources: SourceSpec[] = []): { file: string; text: string } {
  const base = declarations(flavor, dir, [], sources);
  const attrs = (p: Remotable) =>
    [
      `name = ${JSON.stringify(p.name)}`,
      ...(p.attribute_path ? [`attribute_path = ${JSON.stringify(p.attribute_path)}`] : []),
      `repository = "@${p.repository ?? "nixpkgs"}"`,
      `exec_properties = {"pool": "nix"}`,
      `nixopts = ${starlarkList(OFFLINE)}`,
      ...(p.extra ? [p.extra] : []),
    ].join(",\n    ");
  if (flavor.bzlmod) {
    const use = `nixstore_remotable = use_extension("@rules_nixstore//rules:remotable_extensions.bzl", "nixstore_remotable")`;
    const tags = packages.map((p) => `nixstore_remotable.package(\n    ${attrs(p)},\n)`);
    const repos = `use_repo(nixstore_remotable, ${packages.map((p) => JSON.stringify(p.name)).join(", ")})`;
    return { file: base.file, text: [base.text, use, ...tags, repos, ""].join("\n") };
  }
  const load = `load("@rules_nixstore//rules:remotable.bzl", "nixpkgs_package")`;
  const calls = packages.map((p) => `nixpkgs_package(\n    ${attrs(p)},\n    remotable = True,\n)`);
  return { file: base.file, text: [base.text, load, ...calls, ""].join("\n") };
}

/** The directory of remotable package `name` (under bzlmod, a repository of the nixstore_remotable extension). */
export function remotablePackageDir(ws: Workspace, name: string): string {
  return join(ws.outputBase, "external", ws.flavor.bzlmod ? `rules_nixstore~~nixstore_remotable~${name}` : name);
}

/** Actions the cluster's worker ran (both pools); during a fetch, only remote repository builds run. */
export function workerRuns(): Promise<number> {
  return metric(DIAG.worker, "buildbarn_builder_build_executor_duration_seconds_count", { stage: "Running" });
}
