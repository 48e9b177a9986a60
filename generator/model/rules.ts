import { LOCK_FILE, NAR_CACHE_PREFIX } from "./constants.js";
import type { AttrSpec, RuleSpec, StarlarkAttrType, StarlarkValue } from "./types.js";

/** The value Bazel gives an attribute of each type when neither user nor rule sets a default. */
export const IMPLICIT_DEFAULTS: Readonly<Record<StarlarkAttrType, StarlarkValue>> = {
  bool: false,
  int: 0,
  label: null,
  label_keyed_string_dict: {},
  label_list: [],
  string: "",
  string_dict: {},
  string_list: [],
};

interface AttrOptions {
  readonly doc: string;
  readonly default?: StarlarkValue;
  readonly mandatory?: boolean;
  readonly allowSingleFile?: readonly string[];
  readonly values?: readonly string[];
}

/** Declares an attribute; `default` falls back to the type's implicit default. */
function attr(name: string, type: StarlarkAttrType, options: AttrOptions): AttrSpec {
  return {
    name,
    type,
    default: options.default === undefined ? IMPLICIT_DEFAULTS[type] : options.default,
    mandatory: options.mandatory ?? false,
    doc: options.doc,
    ...(options.allowSingleFile ? { allowSingleFile: options.allowSingleFile } : {}),
    ...(options.values ? { values: options.values } : {}),
  };
}

// Attribute names and meanings follow tweag/rules_nixpkgs (core/nixpkgs.bzl), so users of that
// library find what they know.

/** `PATH` of a remotable package's build on the executor: Nix's usual places, then the OS's. */
const REMOTE_PATH = "/nix/var/nix/profiles/default/bin:/run/current-system/sw/bin:/usr/local/bin:/usr/bin:/bin";

export const NIXPKGS_PACKAGE: RuleSpec = {
  name: "nixpkgs_package",
  starlarkPrefix: "PACKAGE",
  doc:
    "Builds a Nix package into the chroot Nix store under Bazel's output base and makes it " +
    "available as an external repository. The repository holds the package's whole runtime " +
    "closure, a `:closure` target and wrapped executables, so actions that use it run in the " +
    "local sandbox and on remote executors that have no `/nix/store` of their own.",
  attrs: [
    attr("attribute_path", "string", {
      default: "",
      doc:
        "Attribute to build, selected from the top-level Nix expression: attribute names " +
        "separated by dots, e.g. `python3Packages.numpy`. When it is empty and neither " +
        "`nix_file` nor `nix_file_content` is set, the repository name is used.",
    }),
    attr("build_file", "label", {
      default: null,
      doc:
        "A file to use as the repository's BUILD file instead of the generated one; its " +
        "content is copied to `BUILD` at the repository root. Mutually exclusive with " +
        "`build_file_content`.",
    }),
    attr("build_file_content", "string", {
      default: "",
      doc:
        "Like `build_file`, but the BUILD file's content given as a string. Mutually " +
        "exclusive with `build_file`.",
    }),
    attr("escaping_symlinks", "string", {
      default: "drop",
      values: ["drop", "fail"],
      doc:
        "What to do with symlinks of the closure that leave it: to a path outside `/nix/store` " +
        "(`share/x -> /etc/x`, or relative, `../../../../etc/x`), or into a store path that is " +
        "not in the closure. Bazel follows symlinks in source trees, so such a link would put " +
        "the fetching machine's file into the repository, every action that uses the package " +
        "and the remote cache. `\"drop\"` leaves them out of the repository and prints a " +
        "warning naming each link and the package; `\"fail\"` refuses the package, naming " +
        "them. Links that stay in the closure always work: they point at the same path inside " +
        "the repository.",
    }),
    attr("fail_not_supported", "bool", {
      default: true,
      doc:
        "If True, fail on platforms that do not support Nix (no `nix-build` on PATH, e.g. " +
        "Windows). If False, the rule succeeds there but produces no output.",
    }),
    attr("evaluation", "string", {
      doc:
        "Set by `nixpkgs_packages` and the module extension, not by hand: the name of the " +
        "`nixpkgs_evaluation` repository, declared beside this one, that evaluated this " +
        "package together with the other packages of its nixpkgs. The package then realises " +
        "the derivation in its `<name>.drv` instead of evaluating nixpkgs again; when that " +
        "file is empty (the shared evaluation failed) it evaluates on its own. Only a " +
        "package that must build reads it, so a lock-pinned package never fetches it.",
    }),
    attr("lock", "label", {
      allowSingleFile: [".json"],
      doc:
        `The workspace's lock file written by \`nixgen lock\` (e.g. \`//:${LOCK_FILE}\`). ` +
        "When it pins this repository and the pinned store paths are in the store with the " +
        "pinned NAR hashes, no Nix evaluation runs; a pinned path whose content was modified " +
        "fails the fetch, and a build whose output differs from the pin fails with advice to " +
        "run `nixgen lock` again.",
    }),
    attr("nix_file", "label", {
      allowSingleFile: [".nix"],
      doc:
        "A `.nix` file whose expression is evaluated; `attribute_path` selects the derivation " +
        "from it. Mutually exclusive with `nix_file_content`.",
    }),
    attr("nix_file_content", "string", {
      default: "",
      doc:
        "A Nix expression given inline, used like the content of `nix_file`. Mutually " +
        "exclusive with `nix_file`.",
    }),
    attr("nix_file_deps", "label_list", {
      default: [],
      doc:
        "Files that `nix_file` or `nix_file_content` import. Listing them makes Bazel fetch " +
        "the package again when any of them changes.",
    }),
    attr("nixopts", "string_list", {
      default: [],
      doc:
        "Extra command-line arguments for `nix-build`, e.g. " +
        '`["--argstr", "system", "x86_64-linux"]`. A package whose `nixopts` are only Nix ' +
        "settings (`--option <name> <value>`) can share its nixpkgs' evaluation " +
        "(`nixpkgs_packages`, the module extension); others evaluate on their own.",
    }),
    attr("quiet", "bool", {
      default: false,
      doc: "If True, hide the output of the Nix commands unless they fail.",
    }),
    attr("packed_closure", "bool", {
      default: false,
      doc:
        "If True, the package's launchers (`bin/<exe>`) carry its runtime closure as one " +
        "file, `_nixstore/closure.nar` (a Nix archive of the closure's store paths, the " +
        "format `nix-store --dump` writes), instead of one input per file of the closure. " +
        "Where an action cannot see `/nix/store` (a remote executor, a sandbox without the " +
        "generated mount), the launcher unpacks the archive once per machine and user into " +
        `its cache, \`${NAR_CACHE_PREFIX}<uid>/<sha256>.entry\`, checking its sha256, and maps it. Use it ` +
        "for tools whose closures hold many files: a remote action then costs about what a " +
        "small tool's does, as the client no longer hashes and looks up, nor the worker " +
        "creates and deletes, thousands of inputs. The repository holds the archive beside " +
        "the laid-out closure (twice the closure's size on disk), and `:closure` still names " +
        "the closure's files.",
    }),
    attr("store", "string", {
      default: "output-base",
      values: ["output-base", "system"],
      doc:
        'Which Nix store to build into: `"output-base"`, the chroot store ' +
        "`<output_base>/nixstore` shared by the packages of this output base (nothing is " +
        "written to the host's `/nix`; the package is built in the machine cache shared by all " +
        "output bases of the user, `${XDG_CACHE_HOME:-$HOME/.cache}/rules_nixstore/store` or " +
        "`--repo_env=RULES_NIXSTORE_MACHINE_CACHE=<dir>` (`off` to build in the output base), and " +
        "its closure is hard-linked from there), " +
        'or `"system"`, the host\'s own `/nix/store` (no ' +
        "`--store`; the host's Nix configuration applies). Either way the closure is laid out " +
        "into the repository, so it travels as inputs.",
    }),
    attr("repositories", "label_keyed_string_dict", {
      default: {},
      doc:
        "Nix expressions to put on `NIX_PATH`: each label maps to the name under which the " +
        "expression resolves, so `<nixpkgs>` in Nix code means the file of the label mapped " +
        'to `"nixpkgs"`. The `nixpkgs_package` macro takes the readable form ' +
        '`repositories = {"nixpkgs": "@nixpkgs"}` and inverts it into this attribute.',
    }),
    attr("remote_build", "string", {
      doc:
        "Set by the remotable `nixpkgs_package` (`@rules_nixstore//rules:remotable.bzl`), not " +
        "by hand: the name of the `nixpkgs_remote_build` repository, declared beside this one, " +
        "that built the package with Nix where Bazel runs remotable repository rules (a remote " +
        "executor). The package then lays out the closure that build sent back and runs no Nix " +
        "command itself.",
    }),
    attr("remote_closure", "string", {
      default: "fetch",
      values: ["fetch", "shared-store"],
      doc:
        "For a remotable package: where its closure goes. `\"fetch\"`: back to the client, " +
        "into the repository, so it travels as action inputs and runs anywhere (the launcher " +
        "strategy). `\"shared-store\"`: it stays in the store of the executor that built it, " +
        "which the executors running its consumers must share (send those actions there with " +
        "`exec_properties`); the repository holds only `bin/<exe>` wrappers that run the store " +
        "paths, so no closure bytes are uploaded or fetched.",
    }),
    attr("remote_path", "string", {
      default: REMOTE_PATH,
      doc:
        "For a remotable package: `PATH` of its build on the remote executor, where " +
        "`nix-build`, `nix-store`, GNU tar, gzip and base64 must be found (a remotable rule's " +
        "commands get no `PATH` from the client). The default covers Nix's multi-user " +
        "installation, NixOS and distribution packages.",
    }),
    attr("max_closure_mib", "int", {
      default: 192,
      doc:
        "For a remotable package: the largest runtime closure, as a gzip-compressed tar " +
        "archive in MiB, that the remote executor sends back; a bigger one fails the fetch, " +
        "naming its size. The client's Bazel server peaks at about six times the archive in " +
        "memory while it decodes it (its heap: `--host_jvm_args=-Xmx...`), and the executor's " +
        "CAS must hold the archive's base64 text (4/3 of it) as one blob (Buildbarn: smaller " +
        "than a storage block).",
    }),
    attr("repository", "label", {
      default: null,
      doc:
        "Deprecated: use `repositories`. A single Nixpkgs repository, equivalent to " +
        '`repositories = {"nixpkgs": repository}`; the `nixpkgs_package` macro folds it ' +
        "into `repositories`.",
    }),
  ],
  tag: {
    name: "package",
    omit: ["evaluation", "remote_build", "remote_closure", "remote_path", "max_closure_mib"],
    doc:
      "A Nix package as the repository `@<name>`, with `nixpkgs_package`'s attributes and " +
      "meanings; bring it into scope with `use_repo(nixstore, \"<name>\")`. Two modules " +
      "that ask for the same name must ask for the same package.",
    replace: [
      attr("repositories", "string_dict", {
        default: {},
        doc:
          "Nix search path entries: each key is the name under which Nix code finds an " +
          "expression (`<nixpkgs>`), each value the `name` of a `local_repository`, " +
          "`http_repository` or `git_repository` tag of this extension, e.g. " +
          '`{"nixpkgs": "nixpkgs"}`.',
      }),
      attr("repository", "string", {
        default: "",
        doc:
          "Shorthand for `repositories = {\"nixpkgs\": repository}`: the `name` of a " +
          "repository tag of this extension. Mutually exclusive with `repositories`.",
      }),
    ],
  },
};

export const NIXPKGS_LOCAL_REPOSITORY: RuleSpec = {
  name: "nixpkgs_local_repository",
  starlarkPrefix: "LOCAL_REPOSITORY",
  doc:
    "Makes a Nix expression from the workspace, or given inline, available as a Nixpkgs " +
    "repository that `nixpkgs_package` uses through `repositories`. Set exactly one of " +
    "`nix_file` and `nix_file_content`.",
  attrs: [
    attr("nix_file", "label", {
      allowSingleFile: [".nix"],
      doc:
        "A `.nix` file holding the repository's expression, typically one that imports a " +
        "pinned Nixpkgs. Mutually exclusive with `nix_file_content`.",
    }),
    attr("nix_file_content", "string", {
      doc: "The repository's Nix expression given inline. Mutually exclusive with `nix_file`.",
    }),
    attr("nix_file_deps", "label_list", {
      doc:
        "Other files that `nix_file` imports. They are exported with it, so packages built " +
        "from this repository are fetched again when any of them changes.",
    }),
  ],
  tag: {
    name: "local_repository",
    doc:
      "A Nix expression of a module (or given inline) as a nixpkgs repository, as " +
      "`nixpkgs_local_repository` declares it; packages name it in `repository` or " +
      "`repositories`.",
    replace: [],
  },
};

export const NIXPKGS_HTTP_REPOSITORY: RuleSpec = {
  name: "nixpkgs_http_repository",
  starlarkPrefix: "HTTP_REPOSITORY",
  doc:
    "Downloads and extracts a Nixpkgs archive over HTTP for `nixpkgs_package` to use through " +
    "`repositories`. Set exactly one of `url` and `urls`, and pin the download with `sha256` " +
    "or `integrity`.",
  attrs: [
    attr("integrity", "string", {
      doc:
        "Expected checksum of the downloaded archive in Subresource Integrity format " +
        "(`sha256-...`). Set this or `sha256`: without a checksum the build is not hermetic.",
    }),
    attr("sha256", "string", {
      doc:
        "Expected SHA-256 of the downloaded archive, in hex. Set this or `integrity`: without " +
        "a checksum the build is not hermetic.",
    }),
    attr("strip_prefix", "string", {
      doc:
        "A directory prefix to strip from the extracted files, such as the " +
        "`nixpkgs-<revision>` top-level directory of a GitHub archive.",
    }),
    attr("url", "string", {
      doc:
        "URL of the archive (file, http or https; redirections are followed). Mutually " +
        "exclusive with `urls`.",
    }),
    attr("urls", "string_list", {
      doc:
        "URLs of the same archive, tried in order until one succeeds, so list mirrors first. " +
        "Mutually exclusive with `url`.",
    }),
  ],
  tag: {
    name: "http_repository",
    doc:
      "A nixpkgs archive downloaded over HTTP, as `nixpkgs_http_repository` declares it; " +
      "packages name it in `repository` or `repositories`.",
    replace: [],
  },
};

export const NIXPKGS_GIT_REPOSITORY: RuleSpec = {
  name: "nixpkgs_git_repository",
  starlarkPrefix: "GIT_REPOSITORY",
  doc:
    "Downloads a commit of a nixpkgs repository on GitHub as GitHub's archive of that commit " +
    "(`<remote>/archive/<revision>.tar.gz`), as rules_nixpkgs' `nixpkgs_git_repository` does, " +
    "for `nixpkgs_package` to use through `repositories`. Pin the download with `sha256` or " +
    "`integrity`.",
  attrs: [
    attr("integrity", "string", {
      doc:
        "Expected checksum of the archive in Subresource Integrity format (`sha256-...`). " +
        "Set this or `sha256`: without a checksum the build is not hermetic.",
    }),
    attr("remote", "string", {
      default: "https://github.com/NixOS/nixpkgs",
      doc:
        "The GitHub repository, `https://github.com/<owner>/<repo>`; its archive's top-level " +
        "directory `<repo>-<revision>` is stripped.",
    }),
    attr("revision", "string", {
      mandatory: true,
      doc: "The commit to fetch: a full 40-hex commit hash (branch and tag names move).",
    }),
    attr("sha256", "string", {
      doc:
        "Expected SHA-256 of the archive, in hex. Set this or `integrity`: without a checksum " +
        "the build is not hermetic.",
    }),
  ],
  tag: {
    name: "git_repository",
    doc:
      "A commit of a nixpkgs repository on GitHub, as `nixpkgs_git_repository` declares it; " +
      "packages name it in `repository` or `repositories`.",
    replace: [],
  },
};

/** The attributes of `rule` named in `names`, in that order: shared specs, one place for each doc. */
function attrsOf(rule: RuleSpec, names: readonly string[]): AttrSpec[] {
  return names.map((name) => {
    const found = rule.attrs.find((a) => a.name === name);
    if (!found) throw new Error(`model: ${rule.name} has no attribute ${name}`);
    return found;
  });
}

// Names, defaults and meanings follow rules_nixpkgs' nixpkgs_cc_configure (toolchains/cc), so a
// WORKSPACE that used it switches by changing the load.
export const NIXPKGS_CC_CONFIGURE: RuleSpec = {
  name: "nixpkgs_cc_configure",
  starlarkPrefix: "CC_CONFIGURE",
  doc:
    "A C/C++ toolchain from Nix that runs wherever Bazel runs actions: the repository `@<name>` " +
    "holds the compiler's whole closure and a `cc_toolchain` whose tools are launchers " +
    "carrying it, and `@<name>_toolchains` the `toolchain` targets (registered when " +
    "`register` is True). Compile, link and archive actions run in the local sandbox, where " +
    "no `/nix/store` exists, and on remote workers without Nix; the programs it links, which " +
    "load the Nix C library and libstdc++ from `/nix/store`, run under `@<name>_toolchains//:runtime` " +
    "(the `--run_under` of tests and `bazel run`, which maps their runtime closure), and tools " +
    "built for the exec platform are linked statically (`--host_linkopt=-static`); nixgen " +
    "writes both flags.",
  attrs: [
    attr("attribute_path", "string", {
      default: "",
      doc:
        "The Nix attribute of the compiler: a cc-wrapper (`bin/cc`, `bin/c++`, and binutils " +
        "in its `bintools` or beside it), selected from `nix_file` or `nix_file_content` if " +
        "set, else from `<nixpkgs>`. Empty means `stdenv.cc`.",
    }),
    attr("cc_lang", "string", {
      default: "c++",
      doc:
        "The language (`-x`) of the probe that lists the compiler's built-in include " +
        "directories, besides C.",
    }),
    attr("cc_std", "string", {
      default: "c++0x",
      doc: "The C++ standard of C++ compile actions (`-std=`), as rules_nixpkgs' default.",
    }),
    attr("exec_constraints", "string_list", {
      default: [],
      doc:
        "Constraints of the exec platforms the toolchain runs on. Empty means Linux on the " +
        "fetching machine's CPU (`@platforms//os:linux`, `@platforms//cpu:x86_64`): any such " +
        "machine, with or without Nix.",
    }),
    attr("target_constraints", "string_list", {
      default: [],
      doc:
        "Constraints of the target platforms the toolchain builds for. Empty means the same " +
        "as the default of `exec_constraints`.",
    }),
    attr("register", "bool", {
      default: true,
      doc:
        "If True, the macro registers `@<name>_toolchains//:all` (`register_toolchains`). " +
        "Under bzlmod, register them in MODULE.bazel instead.",
    }),
    ...attrsOf(NIXPKGS_PACKAGE, [
      "fail_not_supported",
      "lock",
      "nix_file",
      "nix_file_content",
      "nix_file_deps",
      "nixopts",
      "quiet",
      "repositories",
      "repository",
      "store",
    ]),
    attr("packed_closure", "bool", {
      default: true,
      doc:
        "If True (the default), the compiler's launchers carry its closure as one archive " +
        "(`_nixstore/closure.nar`, see `nixpkgs_package`'s `packed_closure`) instead of one " +
        "input per file: a compiler's closure holds thousands of headers, which every compile " +
        "action would otherwise hash, upload and lay out.",
    }),
  ],
  tag: {
    name: "cc_configure",
    doc:
      "A C/C++ toolchain from Nix, as `nixpkgs_cc_configure` declares it: the repositories " +
      "`@<name>` and `@<name>_toolchains`. Bring them into scope and register them in " +
      "MODULE.bazel: `use_repo(nixstore, \"<name>_toolchains\")` and " +
      "`register_toolchains(\"@<name>_toolchains//:all\")`.",
    omit: ["register"],
    // Repository tags of this extension, by name, as the package tag takes them.
    replace: NIXPKGS_PACKAGE.tag.replace,
  },
};

/**
 * The repositories and targets that `nixpkgs_cc_configure` (rules/defs.bzl) and the
 * `cc_configure` tag (rules/private/extension.bzl, cc_configure.bzl) make, which nixgen names
 * in MODULE.bazel and the bazelrc.
 */
export const CC_TOOLCHAIN_NAMES = {
  /** The macro's default `name`: that of Bazel's autodetected C++ toolchain, which it replaces. */
  defaultName: "local_config_cc",
  /** `@<name><toolchainsSuffix>`: the `toolchain` targets (`//:all` is registered) and an alias of the runtime. */
  toolchainsSuffix: "_toolchains",
  /** `@<name><toolchainsSuffix>//:runtime`: the launcher that `--run_under` names (on every Bazel). */
  runtime: "runtime",
  /** `@<name>//:toolchain`: the `cc_toolchain_suite` that `--crosstool_top` names (Bazel before C++ toolchain resolution). */
  suite: "toolchain",
} as const;

/** The repository rules of the library, in the order their constants are rendered. */
export const RULES: readonly RuleSpec[] = [
  NIXPKGS_PACKAGE,
  NIXPKGS_LOCAL_REPOSITORY,
  NIXPKGS_HTTP_REPOSITORY,
  NIXPKGS_GIT_REPOSITORY,
  NIXPKGS_CC_CONFIGURE,
];
