// Temp Bazel workspaces that consume rules_nixstore through local_repository, with the offline
// fixture nixpkgs, a private output base, and the .bazelrc fragment written by `nixgen bazelrc`.
// Everything here is real: Debian's Bazel 4.2.3, Nix 2.8 and the host kernel.
import { execa, type Result } from "execa";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const FIXTURE = join(REPO_ROOT, "test/fixtures/nixpkgs");
/** The built nixgen CLI (npm run build). */
export const NIXGEN = join(REPO_ROOT, "dist/generator/cli.js");

/** nixopts every fixture package gets: no binary cache (there is no network here). */
export const OFFLINE_NIXOPTS = ["--option", "substituters", ""];

/** A test script: `expect_output.sh EXPECTED PROGRAM [ARGS...]` runs PROGRAM and compares stdout. */
export const EXPECT_OUTPUT_SH = `#!/bin/sh
# usage: expect_output.sh EXPECTED PROGRAM [ARGS...]
expected=$1; shift
actual=$("$@") || { echo "FAIL: $* exited $?"; exit 1; }
[ "$actual" = "$expected" ] || { echo "FAIL: $* printed '$actual', expected '$expected'"; exit 1; }
echo "ok: $*"
`;

export interface PackageSpec {
  name: string;
  attribute_path?: string;
  /** Extra Starlark attributes, rendered verbatim (e.g. `build_file_content = "..."`). */
  extra?: string;
}

export interface WorkspaceOptions {
  packages: PackageSpec[];
  /** Content of the workspace's root BUILD.bazel. */
  build: string;
  /** Extra files of the workspace, path -> content. */
  files?: Record<string, string>;
  /** Write the --sandbox_add_mount_pair into .nixstore.bazelrc (needs /nix/store on the host). */
  mountPair?: boolean;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

export function starlarkList(items: string[]): string {
  return "[" + items.map((i) => JSON.stringify(i)).join(", ") + "]";
}

export function packageCall(p: PackageSpec): string {
  const attrs = [
    `name = ${JSON.stringify(p.name)}`,
    `attribute_path = ${JSON.stringify(p.attribute_path ?? p.name)}`,
    `repository = "@nixpkgs"`,
    `nixopts = ${starlarkList(OFFLINE_NIXOPTS)}`,
    `quiet = True`,
  ];
  if (p.extra) attrs.push(p.extra);
  return `nixpkgs_package(\n    ${attrs.join(",\n    ")},\n)`;
}

export class Workspace {
  readonly dir: string;
  readonly outputBase: string;

  constructor(readonly root: string) {
    this.dir = join(root, "ws");
    this.outputBase = join(root, "ob");
  }

  write(path: string, content: string): void {
    mkdirSync(dirname(join(this.dir, path)), { recursive: true });
    writeFileSync(join(this.dir, path), content, { mode: path.endsWith(".sh") ? 0o755 : 0o644 });
  }

  read(path: string): string {
    return readFileSync(join(this.dir, path), "utf8");
  }

  /** Writes WORKSPACE for these packages (used again by tests that change a package). */
  writeWorkspaceFile(packages: PackageSpec[]): void {
    const deps = walk(join(this.dir, "nixpkgs"))
      .map((f) => relative(join(this.dir, "nixpkgs"), f))
      .filter((f) => f !== "BUILD.bazel")
      .sort()
      .map((f) => `//nixpkgs:${f}`);
    this.write(
      "WORKSPACE",
      [
        `workspace(name = "it")`,
        `local_repository(name = "rules_nixstore", path = ${JSON.stringify(REPO_ROOT)})`,
        `load("@rules_nixstore//rules:repositories.bzl", "rules_nixstore_dependencies")`,
        `rules_nixstore_dependencies()`,
        `load("@rules_nixstore//rules:defs.bzl", "nixpkgs_local_repository", "nixpkgs_package")`,
        `nixpkgs_local_repository(`,
        `    name = "nixpkgs",`,
        `    nix_file = "//nixpkgs:default.nix",`,
        `    nix_file_deps = ${starlarkList(deps)},`,
        `)`,
        ...packages.map(packageCall),
        "",
      ].join("\n"),
    );
  }

  /** Writes .nixstore.bazelrc with the real `nixgen bazelrc`. */
  async writeBazelrc(mountPair: boolean): Promise<Result> {
    // A mount target that does not exist makes nixgen leave the mount pair out.
    return nixgenBazelrc(this.dir, this.outputBase, mountPair ? [] : ["--mount-target", join(this.root, "no-such-mount-target")]);
  }

  async bazel(args: string[], env: Record<string, string> = {}): Promise<Result> {
    return execa("bazel", [`--output_base=${this.outputBase}`, "--max_idle_secs=600", ...args], {
      cwd: this.dir,
      reject: false,
      all: true,
      env: { ...env },
      stdin: "ignore",
    });
  }

  bin(path: string): string {
    return readFileSync(join(this.dir, "bazel-bin", path), "utf8");
  }

  async close(): Promise<void> {
    await this.bazel(["shutdown"]);
    await execa("chmod", ["-R", "u+w", this.root], { reject: false });
    await execa("rm", ["-rf", this.root], { reject: false });
  }
}

export async function makeWorkspace(opts: WorkspaceOptions): Promise<Workspace> {
  const ws = new Workspace(mkdtempSync(join(tmpdir(), "nixstore-it-")));
  mkdirSync(ws.dir, { recursive: true });
  cpSync(FIXTURE, join(ws.dir, "nixpkgs"), { recursive: true });
  ws.write("nixpkgs/BUILD.bazel", `exports_files(glob(["**"]))\n`);
  ws.writeWorkspaceFile(opts.packages);
  ws.write("BUILD.bazel", opts.build);
  ws.write(".bazelrc", "try-import %workspace%/.nixstore.bazelrc\nbuild --show_progress_rate_limit=60\n");
  for (const [path, content] of Object.entries(opts.files ?? {})) ws.write(path, content);
  await ws.writeBazelrc(opts.mountPair ?? existsSync("/nix/store"));
  return ws;
}

/** Names of the store paths (hash-name) in the host's /nix/store, or [] when it does not exist. */
export function hostStoreEntries(): string[] {
  if (!existsSync("/nix/store")) return [];
  return readdirSync("/nix/store").filter((e) => !e.startsWith("."));
}

/** Store path entries (hash-name) of every repository's closure in this output base. */
export function closureEntries(ws: Workspace, repo: string): string[] {
  return readFileSync(join(ws.outputBase, "external", repo, "nix/closure.txt"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((p) => p.replace("/nix/store/", ""));
}

export function explain(result: Result): string {
  return `exit ${result.exitCode} of ${result.command}\n${result.all ?? ""}`;
}

/**
 * Copies examples/<example> to `dir` as a user would copy it, without Bazel's convenience
 * symlinks or a machine's .nixstore.bazelrc, and points its `local_repository` of
 * rules_nixstore (`path = "../.."`) at this checkout.
 */
export function copyExample(example: string, dir: string): void {
  cpSync(join(REPO_ROOT, "examples", example), dir, {
    recursive: true,
    filter: (src) => !/\/(bazel-[^/]*|\.nixstore\.bazelrc)$/.test(src),
  });
  const workspace = readFileSync(join(dir, "WORKSPACE"), "utf8");
  if (!workspace.includes(`path = "../.."`)) {
    throw new Error(`examples/${example}/WORKSPACE no longer has local_repository(path = "../..")`);
  }
  writeFileSync(join(dir, "WORKSPACE"), workspace.replace(`path = "../.."`, `path = ${JSON.stringify(REPO_ROOT)}`));
}

/** Runs `nixgen bazelrc` for a workspace and output base (the machine's .nixstore.bazelrc). */
export async function nixgenBazelrc(workspace: string, outputBase: string, args: string[] = []): Promise<Result> {
  return execa("node", [NIXGEN, "bazelrc", "--workspace", workspace, "--output-base", outputBase, ...args], {
    reject: true,
    all: true,
  });
}

/** Bazel's closing "N processes: ..." summary of a build, or "". */
export function processes(all: unknown): string {
  return /INFO: (\d+ processes?[^\n]*)/.exec(String(all ?? ""))?.[1] ?? "";
}

