"""nixpkgs_cc_configure: a C/C++ toolchain from Nix whose tools carry the compiler's closure.

Two repositories, as rules_nixpkgs makes them:
- `@<name>`: the compiler's closure (built like a package, from `cc_info.nix`), a launcher per
  tool (`bin/<tool>`: `enter` beside a data file naming the tool's store path), the
  `cc_toolchain` and its configuration, a `cc_toolchain_suite` for `--crosstool_top`, and
  `:runtime`, the launcher that runs a command with the runtime closure of the programs the
  compiler links (their C library and libstdc++) mapped at /nix/store;
- `@<name>_toolchains`: the `toolchain` targets, for `register_toolchains`, and an alias of
  `:runtime`.
"""

load("@bazel_tools//tools/cpp:cc_configure.bzl", "cc_autoconf_impl")
load(":attrs.bzl", "CC_CONFIGURE_ATTRS", "CC_CONFIGURE_DOC")
load(":constants.bzl", "REPOSITORY_HEADER")
load(":enter.bzl", "host_arch", "install_enter")
load(":launch_data.bzl", "LAUNCH_SUFFIX", "launch_data")
load(":layout.bzl", "lay_out_closure")
load(":lock.bzl", "LOCK_ENV")
load(":names.bzl", "apparent_name", "label_string", "package_who", "write_workspace_file")
load(":nix_files.bzl", "lay_out_nix_files")
load(":package.bzl", "obtain_closure", "resolve_inputs")
load(":package_contents.bzl", "pack_closure")

# Attributes of the macro (and the extension's tag) that the toolchain repository does not take.
_MACRO_ONLY = ["exec_constraints", "register", "repository", "target_constraints"]

# Bazel's tool names, and the tool of the compiler that each one runs (the first found).
_TOOLS = {
    "ar": ["ar"],
    "cpp": ["cpp"],
    "dwp": ["dwp"],
    "gcc": ["cc"],
    "gcov": ["gcov"],
    "ld": ["ld"],
    "llvm-cov": ["llvm-cov"],
    "nm": ["nm"],
    "objcopy": ["objcopy"],
    "objdump": ["objdump"],
    "strip": ["strip"],
}

# Where a tool the compiler lacks points (as in Bazel's own autodetected toolchain): running it
# fails. Only coverage (gcov, llvm-cov) and debug fission (dwp) need them.
_MISSING_TOOL = "/bin/false"

# Flags of every compile action that make outputs independent of the machine and the time.
_REPRODUCIBLE = [
    "-Wno-builtin-macro-redefined",
    "-D__DATE__=\"redacted\"",
    "-D__TIMESTAMP__=\"redacted\"",
    "-D__TIME__=\"redacted\"",
]

# Bazel's CPU names and the @platforms constraint of each host architecture.
_CPUS = {
    "aarch64": ("aarch64", "@platforms//cpu:aarch64"),
    "amd64": ("k8", "@platforms//cpu:x86_64"),
    "arm64": ("aarch64", "@platforms//cpu:aarch64"),
    "x86_64": ("k8", "@platforms//cpu:x86_64"),
}

def _cpu(repository_ctx):
    """(Bazel's CPU name, its @platforms constraint) of this machine; fails on another one."""
    arch = host_arch(repository_ctx)
    if arch not in _CPUS:
        fail("{}: no C/C++ toolchain for this machine's architecture {} (supported: {}).".format(package_who(repository_ctx), arch, ", ".join(sorted(_CPUS.keys()))))
    return _CPUS[arch]

def _nix_string(text):
    """`text` as a Nix string literal."""
    return "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"").replace("${", "\\${") + "\""

def _selection(attribute_path):
    """The Nix attribute selection of a dotted path: `."a"."b"`."""
    return "".join(["." + _nix_string(part) for part in attribute_path.split(".")])

def _write_expression(repository_ctx, inputs):
    """Writes the expression that nix-build builds (cc_info.nix applied to the compiler); its path."""
    attr = repository_ctx.attr
    laid_out = lay_out_nix_files(repository_ctx, "_nixstore/src", inputs.nix_file, inputs.deps)
    user_file = laid_out.nix_file
    if attr.nix_file_content:
        user_file = "_nixstore/src/default.nix"
        repository_ctx.file(user_file, attr.nix_file_content)
    if user_file:
        # Relative to _nixstore/cc/, so that the expression is the same on every machine.
        source = "(let f = import ../{}; in if builtins.isFunction f then f args else f)".format(user_file[len("_nixstore/"):])
        attribute_path = attr.attribute_path
    else:
        source = "pkgs"
        attribute_path = attr.attribute_path or "stdenv.cc"
    repository_ctx.file("_nixstore/cc/cc_info.nix", repository_ctx.read(inputs.cc_info))
    repository_ctx.file("_nixstore/cc/default.nix", "\n".join([
        "# {} (nixpkgs_cc_configure): the compiler, described for Bazel by cc_info.nix.".format(REPOSITORY_HEADER),
        "{ ... }@args:",
        "let",
        "  pkgs = import <nixpkgs> { };",
        "  source = {};".format(source),
        "in",
        "import ./cc_info.nix {",
        "  cc = source{};".format(_selection(attribute_path) if attribute_path else ""),
        "  inherit pkgs;",
        "  ccLang = {};".format(_nix_string(attr.cc_lang)),
        "}",
        "",
    ]))
    return repository_ctx.path("_nixstore/cc/default.nix")

def _lines(repository_ctx, info, name):
    """The non-empty lines of the toolchain description's file `name`."""
    return [line for line in repository_ctx.read("{}/{}".format(info, name)).splitlines() if line.strip()]

def _read_info(repository_ctx, out):
    """What cc_info.nix found out about the compiler, from the repository's copy of its output."""
    info = "nix/store/" + out[len("/nix/store/"):]
    tools = {}
    for line in _lines(repository_ctx, info, "tools"):
        name, _, path = line.partition(" ")
        tools[name] = path
    return struct(
        tools = tools,
        include_dirs = _lines(repository_ctx, info, "include_dirs"),
        compile_flags = _lines(repository_ctx, info, "compile_flags"),
        unfiltered_compile_flags = _lines(repository_ctx, info, "unfiltered_compile_flags"),
        link_flags = _lines(repository_ctx, info, "link_flags"),
        opt_link_flags = _lines(repository_ctx, info, "opt_link_flags"),
        compiler = _lines(repository_ctx, info, "compiler")[0],
        runtime = _lines(repository_ctx, info, "runtime"),
        runtime_closure = sorted(_lines(repository_ctx, info, "runtime_closure")),
        static_libc = _lines(repository_ctx, info, "static_libc"),
    )

def _write_launchers(repository_ctx, info, nar_sha256):
    """Writes `bin/<tool>` (a link to enter) and its data for each tool; Bazel's tool paths."""
    exec_repo = "external/" + repository_ctx.name
    owner = "@{} (nixpkgs_cc_configure)".format(apparent_name(repository_ctx))
    tool_paths = {}
    for bazel_name, candidates in _TOOLS.items():
        found = [t for t in candidates if t in info.tools]
        if not found:
            tool_paths[bazel_name] = _MISSING_TOOL
            continue
        launcher = "bin/" + found[0]
        if not repository_ctx.path(launcher).exists:
            repository_ctx.symlink("_nixstore/enter", launcher)
            repository_ctx.file(launcher + LAUNCH_SUFFIX, launch_data(
                owner = owner,
                program = info.tools[found[0]],
                runfiles_repo = repository_ctx.name,
                exec_repo = exec_repo,
                nar = "_nixstore/closure.nar" if nar_sha256 else None,
                nar_sha256 = nar_sha256,
            ), executable = False)
        tool_paths[bazel_name] = launcher
    return tool_paths

def _starlark_list(items, indent = "    "):
    if not items:
        return "[]"
    return "[\n" + "".join(["{}    {},\n".format(indent, repr(i)) for i in items]) + indent + "]"

def _toolchain_build(repository_ctx, inputs, info, tool_paths, cpu, nar_sha256, runtime_nar_sha256):
    """The BUILD file of the toolchain repository."""
    attr = repository_ctx.attr
    tools_srcs = "glob([\"bin/**\"]) + " + ("[\"//_nixstore:closure.nar\"]" if nar_sha256 else "[\":closure\"]")
    if runtime_nar_sha256:
        runtime_carried = "    nar = \"//_nixstore:runtime.nar\",\n    nar_sha256 = \"{}\",\n".format(runtime_nar_sha256)
    else:
        runtime_carried = "    closure = \":runtime_closure\",\n"
    runtime_globs = ["nix/store/{}/**".format(p[len("/nix/store/"):]) for p in info.runtime_closure]
    link_flags = info.link_flags + ["-L{}/lib".format(p) for p in info.static_libc]
    return "\n".join([
        "# {} (nixpkgs_cc_configure: {})".format(REPOSITORY_HEADER, info.tools["cc"]),
        "load(\"@bazel_tools//tools/cpp:unix_cc_toolchain_config.bzl\", \"cc_toolchain_config\")",
        "load(\"{}\", \"nixstore_executable\")".format(inputs.executable_bzl),
        "load(\"//_nixstore:suite.bzl\", \"toolchain_suite\")",
        "",
        "package(default_visibility = [\"//visibility:public\"])",
        "",
        "# Every file of the compiler's closure.",
        "filegroup(",
        "    name = \"closure\",",
        "    srcs = glob([\"nix/store/**\"]),",
        ")",
        "",
        "# What every action of the toolchain needs: the launchers, their data and the closure.",
        "filegroup(",
        "    name = \"tools\",",
        "    srcs = {},".format(tools_srcs),
        ")",
        "",
        "cc_toolchain(",
        "    name = \"cc-compiler-{}\",".format(cpu),
        "    all_files = \":tools\",",
        "    ar_files = \":tools\",",
        "    as_files = \":tools\",",
        "    compiler_files = \":tools\",",
        "    dwp_files = \":tools\",",
        "    linker_files = \":tools\",",
        "    objcopy_files = \":tools\",",
        "    strip_files = \":tools\",",
        "    supports_param_files = 1,",
        "    toolchain_config = \":cc-config-{}\",".format(cpu),
        "    toolchain_identifier = \"nixstore-cc-{}\",".format(cpu),
        ")",
        "",
        "cc_toolchain_config(",
        "    name = \"cc-config-{}\",".format(cpu),
        "    abi_libc_version = \"local\",",
        "    abi_version = \"local\",",
        "    compile_flags = {},".format(_starlark_list(["-U_FORTIFY_SOURCE"] + info.compile_flags)),
        "    compiler = {},".format(repr(info.compiler)),
        "    coverage_compile_flags = [\"--coverage\"],",
        "    coverage_link_flags = [\"--coverage\"],",
        "    cpu = \"{}\",".format(cpu),
        "    cxx_builtin_include_directories = {},".format(_starlark_list(info.include_dirs)),
        "    cxx_flags = {},".format(_starlark_list(["-std=" + attr.cc_std])),
        "    dbg_compile_flags = [\"-g\"],",
        "    host_system_name = \"local\",",
        "    link_flags = {},".format(_starlark_list(link_flags)),
        "    link_libs = [\"-lstdc++\", \"-lm\"],",
        "    opt_compile_flags = {},".format(_starlark_list(["-g0", "-O2", "-D_FORTIFY_SOURCE=1", "-DNDEBUG", "-ffunction-sections", "-fdata-sections"])),
        "    opt_link_flags = {},".format(_starlark_list(info.opt_link_flags)),
        "    supports_start_end_lib = False,",
        "    target_libc = \"local\",",
        "    target_system_name = \"local\",",
        "    tool_paths = {},".format(repr(tool_paths)),
        "    toolchain_identifier = \"nixstore-cc-{}\",".format(cpu),
        "    unfiltered_compile_flags = {},".format(_starlark_list(info.unfiltered_compile_flags + _REPRODUCIBLE)),
        ")",
        "",
        "# The entry point of --crosstool_top (Bazel before toolchain resolution for C++).",
        "toolchain_suite(",
        "    name = \"toolchain\",",
        "    toolchains = {",
        "        \"{0}\": \":cc-compiler-{0}\",".format(cpu),
        "        \"{0}|{1}\": \":cc-compiler-{0}\",".format(cpu, info.compiler),
        "    },",
        ")",
        "",
        "# The runtime of the programs this toolchain links (their C library, libstdc++): runs the",
        "# command it is given with their closure mapped at /nix/store (Bazel's --run_under).",
        "filegroup(",
        "    name = \"runtime_closure\",",
        "    srcs = glob({}),".format(_starlark_list(runtime_globs)),
        ")",
        "",
        "nixstore_executable(",
        "    name = \"runtime\",",
        runtime_carried.rstrip("\n"),
        "    enter = \"//_nixstore:enter\",",
        "    program = {},".format(repr(info.runtime[0])),
        "    run_argv = True,",
        ")",
        "",
    ])

_SUITE_BZL = """\
\"\"\"{header} (nixpkgs_cc_configure).\"\"\"

def toolchain_suite(name, toolchains):
    \"\"\"cc_toolchain_suite, where this Bazel still has it (it selects C++ toolchains before Bazel 7).\"\"\"
    if hasattr(native, "cc_toolchain_suite"):
        native.cc_toolchain_suite(name = name, toolchains = toolchains)
"""

def _not_supported(repository_ctx, reason):
    """Fails, or (fail_not_supported = False) configures the host's compiler as Bazel would, as rules_nixpkgs does."""
    if repository_ctx.attr.fail_not_supported:
        fail("{}: {}\n  Install Nix (Debian: apt-get install nix-bin), or set fail_not_supported = False to use this machine's own C/C++ compiler, as Bazel's autodetection finds it, where Nix is missing.".format(package_who(repository_ctx), reason))

    # buildifier: disable=print
    print("{}: {} Using this machine's own C/C++ compiler (Bazel's autodetection), as fail_not_supported = False asks.".format(package_who(repository_ctx), reason))
    cc_autoconf_impl(repository_ctx)

    # The runtime that --run_under names: here it has nothing to map, and runs the command.
    inputs = resolve_inputs(repository_ctx)
    error = install_enter(repository_ctx, inputs.enter_binaries, "_nixstore/enter")
    if error:
        fail("{}: {}".format(package_who(repository_ctx), error))
    repository_ctx.file("_nixstore/BUILD.bazel", "exports_files([\"enter\"], visibility = [\"//visibility:public\"])\n")
    build = repository_ctx.read("BUILD")
    repository_ctx.file("BUILD", "load(\"{}\", \"nixstore_executable\")\n".format(inputs.executable_bzl) + build + "\n".join([
        "",
        "# Added by rules_nixstore: --run_under's runtime, which has nothing to map here.",
        "nixstore_executable(",
        "    name = \"runtime\",",
        "    enter = \"//_nixstore:enter\",",
        "    program = \"/\",",
        "    run_argv = True,",
        "    visibility = [\"//visibility:public\"],",
        ")",
        "",
    ]))

def _nixpkgs_cc_toolchain_impl(repository_ctx):
    attr = repository_ctx.attr
    if attr.nix_file and attr.nix_file_content:
        fail("{}: set nix_file or nix_file_content, not both.".format(package_who(repository_ctx)))
    cpu, _ = _cpu(repository_ctx)
    inputs = resolve_inputs(repository_ctx, cc_info = repository_ctx.path(Label("//rules/private:cc_info.nix")))
    got = obtain_closure(repository_ctx, inputs, _not_supported, expression = _write_expression(repository_ctx, inputs))
    if not got:
        return
    lay_out_closure(repository_ctx, got.root, got.closure, got.plan)
    repository_ctx.file("nix/closure.txt", "\n".join(got.closure) + "\n")
    info = _read_info(repository_ctx, got.outputs[-1])
    error = install_enter(repository_ctx, inputs.enter_binaries, "_nixstore/enter")
    if error:
        fail("{}: {}".format(package_who(repository_ctx), error))
    nar_sha256 = None
    runtime_nar_sha256 = None
    if attr.packed_closure:
        nar_sha256 = pack_closure(repository_ctx, got.root, got.closure, "_nixstore/closure.nar")
        runtime_nar_sha256 = pack_closure(repository_ctx, got.root, info.runtime_closure, "_nixstore/runtime.nar")
    tool_paths = _write_launchers(repository_ctx, info, nar_sha256)
    repository_ctx.file("_nixstore/BUILD.bazel", "# {} (nixpkgs_cc_configure)\nexports_files(glob([\"*\"]), visibility = [\"//visibility:public\"])\n".format(REPOSITORY_HEADER))
    repository_ctx.file("_nixstore/suite.bzl", _SUITE_BZL.format(header = REPOSITORY_HEADER))
    repository_ctx.file("BUILD.bazel", _toolchain_build(repository_ctx, inputs, info, tool_paths, cpu, nar_sha256, runtime_nar_sha256))
    write_workspace_file(repository_ctx)

# The repository rule takes the macro's attributes but those the macro keeps (registration,
# the toolchains' constraints, the `repository` shorthand), and the package flow's internals.
_CC_ATTRS = dict(
    {k: v for k, v in CC_CONFIGURE_ATTRS.items() if k not in _MACRO_ONLY},
    escaping_symlinks = attr.string(default = "drop"),
    evaluation = attr.string(),
    remote_build = attr.string(),
    _who = attr.string(default = "nixpkgs_cc_configure"),
)

nixpkgs_cc_toolchain = repository_rule(
    implementation = _nixpkgs_cc_toolchain_impl,
    attrs = _CC_ATTRS,
    doc = CC_CONFIGURE_DOC,
    environ = ["NIX_CONFIG", "NIX_PATH", LOCK_ENV],
)

def _nixpkgs_cc_toolchains_impl(repository_ctx):
    cpu, cpu_constraint = _cpu(repository_ctx)
    default = ["@platforms//os:linux", cpu_constraint]
    attr = repository_ctx.attr
    repository_ctx.file("BUILD.bazel", "\n".join([
        "# {} (nixpkgs_cc_configure: the toolchains of @{})".format(REPOSITORY_HEADER, attr.cc_repository),
        "load(\"{}\", \"nixstore_executable_alias\")".format(label_string(Label("//rules/private:executable.bzl"))),
        "",
        "package(default_visibility = [\"//visibility:public\"])",
        "",
        "toolchain(",
        "    name = \"cc-toolchain-{}\",".format(cpu),
        "    exec_compatible_with = {},".format(_starlark_list(attr.exec_constraints or default)),
        "    target_compatible_with = {},".format(_starlark_list(attr.target_constraints or default)),
        "    toolchain = \"@{}//:cc-compiler-{}\",".format(attr.cc_repository, cpu),
        "    toolchain_type = \"@bazel_tools//tools/cpp:toolchain_type\",",
        ")",
        "",
        "# Runs a command with the runtime of the programs the toolchain links mapped at /nix/store:",
        "# --run_under=@{}//:runtime runs tests and `bazel run` programs through it.".format(apparent_name(repository_ctx)),
        "nixstore_executable_alias(",
        "    name = \"runtime\",",
        "    actual = \"@{}//:runtime\",".format(attr.cc_repository),
        ")",
        "",
    ]))
    write_workspace_file(repository_ctx)

nixpkgs_cc_toolchains = repository_rule(
    implementation = _nixpkgs_cc_toolchains_impl,
    attrs = {
        "cc_repository": attr.string(mandatory = True, doc = "The apparent name of the toolchain repository (`<name>`)."),
        "exec_constraints": CC_CONFIGURE_ATTRS["exec_constraints"],
        "target_constraints": CC_CONFIGURE_ATTRS["target_constraints"],
    },
    doc = "The `toolchain` targets of a `nixpkgs_cc_configure` toolchain (`@<name>_toolchains`), for `register_toolchains`.",
)
