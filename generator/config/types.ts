/**
 * The types of `nixgen.config.ts`, published as `rules_nixstore/config`:
 *
 *     import { defineConfig } from "rules_nixstore/config";
 *     export default defineConfig({ nixpkgs: {...}, packages: {...} });
 *
 * nixgen never runs the config: it reads the object literal with ts-morph, so every value must
 * be written as a literal (strings, numbers, booleans, arrays, objects). This module has no
 * imports and no side effects, so editors can load it from the package alone.
 */

/** A Bazel label, e.g. `//nix:nixpkgs.nix` or `@rules_nixstore//test/fixtures/nixpkgs:default.nix`. */
export type Label = string;

/**
 * A Nix expression of the workspace (or given inline) used as nixpkgs:
 * `nixpkgs_local_repository`. Set `local` or `nixFileContent`.
 */
export interface LocalNixpkgs {
  /** The `.nix` file, e.g. `//nix:nixpkgs.nix` (`nix_file`). */
  readonly local?: Label;
  /** The expression given inline (`nix_file_content`). */
  readonly nixFileContent?: string;
  /**
   * Files the expression imports; a change to any of them fetches the packages again. For a
   * `local` file of the workspace, nixgen also finds them itself (relative path literals,
   * followed through every `.nix` file); list here what it cannot see.
   */
  readonly nixFileDeps?: readonly Label[];
}

/** A nixpkgs archive downloaded over HTTP: `nixpkgs_http_repository`. Set `url` or `urls`. */
export interface HttpNixpkgs {
  readonly url?: string;
  /** Mirrors of the same archive, tried in order. */
  readonly urls?: readonly string[];
  /** SHA-256 of the archive in hex. Set this or `integrity`. */
  readonly sha256?: string;
  /** Subresource Integrity checksum (`sha256-...`). Set this or `sha256`. */
  readonly integrity?: string;
  /** Top-level directory of the archive to strip, e.g. `nixpkgs-<revision>`. */
  readonly stripPrefix?: string;
}

/**
 * A GitHub repository at a commit, fetched as GitHub's archive of that commit (as
 * rules_nixpkgs' `nixpkgs_git_repository` does for GitHub).
 */
export interface GitNixpkgs {
  /** `https://github.com/<owner>/<repo>`, e.g. `https://github.com/NixOS/nixpkgs`. */
  readonly git: string;
  /** A full 40-hex commit: branch and tag names move. */
  readonly revision: string;
  readonly sha256?: string;
  readonly integrity?: string;
}

export type NixpkgsSource = LocalNixpkgs | HttpNixpkgs | GitNixpkgs;

/** A Nix package as the repository `@<name>` (`nixpkgs_package`). */
export interface PackageConfig {
  /** Attribute to build, e.g. `python3Packages.numpy`; default: the package's name. */
  readonly attributePath?: string;
  /** A `.nix` file to evaluate instead of nixpkgs' top level (`nix_file`). */
  readonly nixFile?: Label;
  /** A Nix expression given inline (`nix_file_content`). */
  readonly nixFileContent?: string;
  /** Files that `nixFile` or `nixFileContent` import. */
  readonly nixFileDeps?: readonly Label[];
  /** A BUILD file for the repository instead of the generated one (`build_file`). */
  readonly buildFile?: Label;
  /** The BUILD file's content given inline (`build_file_content`). */
  readonly buildFileContent?: string;
  /** Extra arguments of `nix-build`. */
  readonly nixopts?: readonly string[];
  /**
   * Nix search path entries: `<name>` in Nix code → a source under `nixpkgs`. Default: `{
   * nixpkgs: "nixpkgs" }` when a source is named `nixpkgs`, or the only source.
   */
  readonly repositories?: Readonly<Record<string, string>>;
  /** Hide Nix's output unless it fails. */
  readonly quiet?: boolean;
  /** Fail where Nix is missing (default true). */
  readonly failNotSupported?: boolean;
  /**
   * Symlinks of the closure that leave it (to a host path, or to a store path outside the
   * closure): `drop` (default) leaves them out of the repository with a warning naming each;
   * `fail` refuses the package (`escaping_symlinks`).
   */
  readonly escapingSymlinks?: "drop" | "fail";
  /**
   * Carry the closure to actions as one Nix archive instead of one input per file
   * (`packed_closure`): for tools whose closures hold many files, run remotely.
   */
  readonly packedClosure?: boolean;
}

/**
 * A C/C++ toolchain from Nix (`nixpkgs_cc_configure`): the repositories `@<name>` (the
 * compiler's closure and its `cc_toolchain`, whose tools are launchers carrying it) and
 * `@<name>_toolchains` (the `toolchain` targets, registered). Programs it links load the Nix C
 * library from `/nix/store`, so nixstore/nixstore.bazelrc runs tests and `bazel run` under its
 * runtime launcher (`--run_under`) and links tools for the exec platform statically
 * (`--host_linkopt=-static`). Built by this machine's Nix, so remote strategies "remotable" and
 * "shared-store" do not take it; the config's `store` applies to it as to the packages.
 */
export interface CcToolchainConfig {
  /**
   * The toolchain repository's name (default `local_config_cc`, which replaces Bazel's
   * autodetected C++ toolchain; another name gets `--crosstool_top` flags under WORKSPACE).
   */
  readonly name?: string;
  /** The compiler's attribute, a nixpkgs cc-wrapper; default: `stdenv.cc`. */
  readonly attributePath?: string;
  /** A `.nix` file to select the compiler from instead of nixpkgs' top level (`nix_file`). */
  readonly nixFile?: Label;
  /** A Nix expression given inline (`nix_file_content`). */
  readonly nixFileContent?: string;
  /** Files that `nixFile` or `nixFileContent` import. */
  readonly nixFileDeps?: readonly Label[];
  /**
   * Nix search path entries: `<name>` in Nix code → a source under `nixpkgs`. It must have
   * `nixpkgs` (the toolchain's description is built with `<nixpkgs>`). Default: `{ nixpkgs:
   * "nixpkgs" }` when a source is named `nixpkgs`, or the only source.
   */
  readonly repositories?: Readonly<Record<string, string>>;
  /** Extra arguments of `nix-build`. */
  readonly nixopts?: readonly string[];
  /** Hide Nix's output unless it fails. */
  readonly quiet?: boolean;
  /** Fail where Nix is missing (default true). */
  readonly failNotSupported?: boolean;
  /** The `-x` language of the probe for built-in include directories besides C (default `c++`). */
  readonly ccLang?: string;
  /** The C++ standard of C++ compile actions, `-std=` (default `c++0x`). */
  readonly ccStd?: string;
  /** Constraint labels of the exec platforms; default: Linux on this machine's CPU. */
  readonly execConstraints?: readonly Label[];
  /** Constraint labels of the target platforms; default: as `execConstraints`'s default. */
  readonly targetConstraints?: readonly Label[];
  /**
   * Carry the compiler's closure to actions as one Nix archive instead of one input per file
   * (`packed_closure`, default true: a compiler's closure holds thousands of headers).
   */
  readonly packedClosure?: boolean;
}

/** How actions reach Nix packages on remote executors. */
export interface RemoteConfig {
  /**
   * - `launcher`: the client builds the packages with Nix; closures travel as action inputs,
   *   and each executable's launcher maps them at `/nix/store` on the worker (no Nix needed
   *   there).
   * - `remotable`: each package's Nix build runs where Bazel runs remotable repository rules:
   *   with `--config=nixstore-remote`, on a remote worker with Nix that `nixBuildExecProperties`
   *   selects, which sends the closure back (the client needs no Nix); without an executor, on
   *   the client's Nix. Consumers then run as with `launcher`. Needs `--experimental_repo_remote_exec`
   *   (nixstore/nixstore.bazelrc sets it), and takes no `store`, `failNotSupported` or lock
   *   file (`nixgen lock`). A `local` nixpkgs is sent to the worker file by file; a downloaded
   *   one (`url`, `git`) is fetched there by URL and SHA-256.
   * - `shared-store`: as `remotable`, each package's Nix build runs on the Nix pool that
   *   `nixBuildExecProperties` selects, but its closure stays in the pool's shared store
   *   (`remote_closure = "shared-store"`): the package's repository holds only `bin/<exe>`
   *   wrappers that run the store paths, and no closure bytes are uploaded or fetched. The
   *   actions that use the packages must therefore run on executors that share that store
   *   (see `execProperties`). Takes the keys of `remotable` but `maxClosureMib`, and no
   *   `buildFile`, `buildFileContent` or `escapingSymlinks` in a package. Without
   *   `--config=nixstore-remote`, the client builds the packages with its own Nix, into its
   *   `/nix/store`, and the wrappers run them there.
   */
  readonly strategy: "launcher" | "remotable" | "shared-store";
  /** `--remote_executor`, e.g. `grpc://buildbarn.example:8980`. */
  readonly executor: string;
  /** `--remote_instance_name`. */
  readonly instanceName?: string;
  /**
   * `--remote_default_exec_properties` of the build's actions (the packages' consumers), e.g.
   * `{ OSFamily: "linux" }`. For `shared-store`, the default is `nixBuildExecProperties`: the
   * actions run on the Nix pool, whose store holds the closures; a platform given here must
   * select executors that share the pool's store.
   */
  readonly execProperties?: Readonly<Record<string, string>>;
  /**
   * For `remotable` and `shared-store`: the platform of the packages' Nix builds (each
   * package's `exec_properties`), selecting workers that have Nix, e.g. `{ pool: "nix" }`.
   * `execProperties` does not apply to these builds; without this key they are sent with no
   * platform.
   */
  readonly nixBuildExecProperties?: Readonly<Record<string, string>>;
  /**
   * For `remotable` and `shared-store`: `PATH` of the Nix builds on the worker, where
   * `nix-build`, `nix-store`, GNU tar, gzip and base64 are found (`remote_path`); default:
   * Nix's multi-user installation, NixOS and distribution packages.
   */
  readonly remotePath?: string;
  /**
   * For `remotable`: the largest closure, as a gzip-compressed archive in MiB, a worker sends
   * back (`max_closure_mib`, default 192); the client's Bazel server peaks at about six times it in memory.
   */
  readonly maxClosureMib?: number;
}

/**
 * A Nix binary cache that `nixgen lock` looks every locked store path up in, so that machines
 * without Nix download the closures with Bazel's downloader (their NAR URL, compression and
 * hashes go into nixstore.lock.json).
 */
export interface BinaryCacheConfig {
  /** The cache's URL, e.g. `https://cache.nixos.org` (http, https or file). */
  readonly url: string;
  /**
   * The public key its narinfos must be signed with, `<name>:<base64>`, e.g.
   * `cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=`.
   */
  readonly publicKey: string;
}

export interface Config {
  /** nixpkgs sources by repository name, e.g. `{ nixpkgs: { git: ..., revision: ..., sha256: ... } }`. */
  readonly nixpkgs?: Readonly<Record<string, NixpkgsSource>>;
  /** Packages by repository name, e.g. `{ jq: {}, numpy: { attributePath: "python3Packages.numpy" } }`. */
  readonly packages?: Readonly<Record<string, PackageConfig>>;
  /**
   * Where packages are built: `output-base` (default), a chroot store inside Bazel's output
   * base; or `system`, the host's `/nix/store` (needs a Nix installation with a daemon).
   */
  readonly store?: "output-base" | "system";
  /** Remote execution; generates the `--config=nixstore-remote` flags in nixstore/nixstore.bazelrc. */
  readonly remote?: RemoteConfig;
  /**
   * A C/C++ toolchain from Nix, e.g. `{}` (`@local_config_cc`, from `stdenv.cc` of the
   * nixpkgs source), declared and registered with the packages, its flags in
   * nixstore/nixstore.bazelrc.
   */
  readonly ccToolchain?: CcToolchainConfig;
  /**
   * Binary caches to record in nixstore.lock.json (`nixgen lock`), in the order they are tried:
   * each locked store path's NAR is taken from the first that serves it signed by its key. With
   * such a lock, a package is fetched by Bazel's downloader, with no Nix on the machine. Default:
   * none (nothing is looked up on the network unless listed here).
   */
  readonly binaryCaches?: readonly BinaryCacheConfig[];
  /**
   * Also generate nixstore/nixstore.MODULE.bazel, which declares the packages with
   * rules_nixstore's module extension, for MODULE.bazel to `include()` (Bazel 7.2 or later).
   */
  readonly bzlmod?: boolean;
}

/** Returns `config` unchanged; it exists so editors check the config against `Config`. */
export function defineConfig(config: Config): Config {
  return config;
}
