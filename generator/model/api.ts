/**
 * The rest of the public API, beside the repository rules of rules.ts: the build rules users
 * and package repositories put in BUILD files, and the remotable extension's tag. Their
 * attributes render into rules/private/attrs.bzl like the repository rules', and the reference
 * (docs/reference.md) is rendered from them all.
 */
import { NIXPKGS_PACKAGE, attr } from "./rules.js";
import type { AttrSpec, BuildRuleSpec, ExtensionTagSpec } from "./types.js";

/** The `name` attribute every tag has: the repository's name. */
export const TAG_NAME_ATTR: AttrSpec = {
  name: "name",
  type: "string",
  default: "",
  mandatory: true,
  doc: "The repository's name: its apparent name in `use_repo` and in labels (`@<name>//...`).",
};

export const NIXSTORE_EXECUTABLE: BuildRuleSpec = {
  name: "nixstore_executable",
  starlarkPrefix: "EXECUTABLE",
  doc:
    "Runs `program` (a `/nix/store/...` path) through a launcher: a link to `enter` (no shell) " +
    "beside a data file naming the program. Where `/nix/store` shows the program (a real store, " +
    "or the linux-sandbox with the generated `--sandbox_add_mount_pair`), the launcher just " +
    "`exec`s it; anywhere else (remote workers, `--spawn_strategy=local`) it maps the closure, " +
    "which this target carries as runfiles, read-only at `/nix/store` in a user + mount " +
    "namespace. The closure travels either as its files (`closure`) or packed into one Nix " +
    "archive (`nar`, `nar_sha256`), which the launcher unpacks once per machine and user, " +
    "checking its sha256. Package repositories declare one per `bin/<exe>`; with `run_argv`, it " +
    "runs the command its arguments name instead (a C/C++ toolchain's `runtime`, which Bazel's " +
    "`--run_under` puts in front of tests and `bazel run`).",
  attrs: [
    attr("closure", "label", {
      allowFiles: true,
      doc:
        "Every file of the program's runtime closure, laid out under `nix/store/` of the " +
        "package repository. Give this or `nar`.",
    }),
    attr("enter", "label", {
      mandatory: true,
      allowSingleFile: true,
      cfg: "target",
      doc:
        "The `enter` binary of the package repository (`_nixstore/enter`): the launcher is a " +
        "link to it, and it maps the closure.",
    }),
    attr("nar", "label", {
      allowSingleFile: [".nar"],
      doc:
        "The program's runtime closure packed into one Nix archive of its store paths " +
        "(`packed_closure`), in the package repository. Give this or `closure`.",
    }),
    attr("nar_sha256", "string", {
      doc:
        "The sha256 of `nar`, 64 lowercase hex digits: the launcher checks the archive against " +
        "it when it unpacks it.",
    }),
    attr("program", "string", {
      mandatory: true,
      doc:
        "The program's logical path, `/nix/store/<hash>-<name>/bin/<exe>`; with `run_argv`, a " +
        "store path of the closure that the commands it runs need (where `/nix/store` shows it, " +
        "nothing is mapped).",
    }),
    attr("run_argv", "bool", {
      doc:
        "If True, the launcher runs the command its arguments name (`<launcher> <command> " +
        "[args...]`) with the closure mapped, instead of `program`: a toolchain's runtime, for " +
        "`--run_under`.",
    }),
  ],
};

export const NIXSTORE_EXECUTABLE_ALIAS: BuildRuleSpec = {
  name: "nixstore_executable_alias",
  starlarkPrefix: "EXECUTABLE_ALIAS",
  doc:
    "Another name for a `nixstore_executable`, as an executable target of its own: what `alias` " +
    "is, but `bazel run --run_under` of Bazel 4 takes it (an alias there is run as a second " +
    "target). A C/C++ toolchain's `@<name>_toolchains//:runtime` is one.",
  attrs: [
    attr("actual", "label", {
      mandatory: true,
      executable: true,
      cfg: "target",
      doc: "The `nixstore_executable` this target runs.",
    }),
  ],
};

/** The build rules, in the order their constants are rendered. */
export const BUILD_RULES: readonly BuildRuleSpec[] = [NIXSTORE_EXECUTABLE, NIXSTORE_EXECUTABLE_ALIAS];

/** `nixstore_remotable.package(...)`: a package whose Nix build runs on the remote executor. */
export const REMOTABLE_PACKAGE_TAG: ExtensionTagSpec = {
  extension: "nixstore_remotable",
  bzlFile: "@rules_nixstore//rules:remotable_extensions.bzl",
  name: "package",
  starlarkPrefix: "REMOTABLE_PACKAGE_TAG",
  doc:
    "A remotable Nix package as the repository `@<name>`: `nixpkgs_package`'s attributes, built " +
    "with Nix on the remote executor that `exec_properties` select, as the remotable " +
    "`nixpkgs_package` of `@rules_nixstore//rules:remotable.bzl` declares it; bring it into scope " +
    'with `use_repo(nixstore_remotable, "<name>")`. Loading this extension needs ' +
    "`--experimental_repo_remote_exec`.",
  base: NIXPKGS_PACKAGE,
  // Not for a remotable package (the executor builds), or taken in another form below.
  omit: ["evaluation", "fail_not_supported", "lock", "remote_build", "store"],
  replace: [
    attr("repositories", "label_keyed_string_dict", {
      doc:
        "Nix search path entries: each label (a repository of the `nixstore` extension, e.g. " +
        "`@nixpkgs`, in scope through `use_repo`) maps to the name under which Nix code finds " +
        "it. Mutually exclusive with `repository`.",
    }),
    attr("repository", "label", {
      doc:
        'Shorthand for `repositories = {repository: "nixpkgs"}`: a `nixstore.local_repository` ' +
        "in scope through `use_repo`, e.g. `@nixpkgs`.",
    }),
  ],
  add: [
    attr("exec_properties", "string_dict", {
      doc:
        "The platform of the remote build, selecting the executor's Nix pool, e.g. " +
        '`{"pool": "nix"}`. An empty dict sends no platform.',
    }),
  ],
};

/** The remotable extension's tags, in the order their constants are rendered. */
export const EXTENSION_TAGS: readonly ExtensionTagSpec[] = [REMOTABLE_PACKAGE_TAG];
