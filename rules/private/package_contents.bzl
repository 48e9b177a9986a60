"""What a package repository holds: its closure laid out, the package's own files at its top level, a launcher per executable, the packed closure, and its BUILD files."""

load(":command.bzl", "command_failure", "execute_or_fail")
load(":constants.bzl", "REPOSITORY_HEADER")
load(":enter.bzl", "install_enter")
load(
    ":layout.bzl",
    "escaping_report",
    "lay_out_closure",
    "plan_closure",
    "runfiles_hold_spaces",
    "scan_closure",
    "unnamable_report",
)
load(":names.bzl", "package_who", "write_workspace_file")

# Entries of a package's top level that would clash with the repository's own files.
_RESERVED = ["BUILD", "BUILD.bazel", "WORKSPACE", "WORKSPACE.bazel", "_nixstore", "nix"]

_DEFAULT_BUILD = """\
package(default_visibility = ["//visibility:public"])

exports_files(glob(["**"], exclude = ["nix/**"]))

filegroup(
    name = "bin",
    srcs = glob(["bin/*"]),
)

filegroup(
    name = "lib",
    srcs = glob(["lib/**/*.so*", "lib/**/*.dylib", "lib/**/*.a"]),
)

filegroup(
    name = "include",
    srcs = glob(["include/**/*.h", "include/**/*.hh", "include/**/*.hpp", "include/**/*.hxx"]),
)
"""

# Loaded first by the package's BUILD file, so that BUILD files written for rules_nixpkgs keep
# working: bin/<exe> names a runnable target here, not the raw file.
_PRELUDE = """\
\"\"\"{header} (nixpkgs_package): wrappers for the package's BUILD file.\"\"\"

_LAUNCHERS = {launchers}

def _is_launcher(src):
    return type(src) == "string" and src.lstrip(":") in _LAUNCHERS

def exports_files(srcs, visibility = None, licenses = None):
    \"\"\"exports_files without the bin/<exe> names, which are launcher targets here.\"\"\"
    native.exports_files([s for s in srcs if not _is_launcher(s)], visibility = visibility, licenses = licenses)

def filegroup(name, srcs = [], data = [], **kwargs):
    \"\"\"filegroup that carries the closure of the launchers among its srcs.

    A filegroup passes on the runfiles of its data, not of its srcs; the launchers' runfiles
    are their closure, so they are added to data as well.
    \"\"\"
    launchers = [s for s in srcs if _is_launcher(s)]
    native.filegroup(name = name, srcs = srcs, data = data + [l for l in launchers if l not in data], **kwargs)
"""

def _fail(repository_ctx, message):
    fail("{}: {}".format(package_who(repository_ctx), message))

def _find(repository_ctx, relpath, predicates):
    """Names of the entries under relpath (followed through symlinks) matching find predicates."""
    path = repository_ctx.path(relpath)
    if not path.exists:
        return []
    argv = ["find", "-L", str(path)] + predicates + ["-printf", "%f\\0"]
    result = execute_or_fail(repository_ctx, argv, "listing {} failed".format(relpath), who = package_who(repository_ctx))
    return sorted([name for name in result.stdout.split("\0") if name])

def _report_escaping(repository_ctx, plan):
    """Refuses the package (escaping_symlinks = "fail") or warns, naming each escaping link."""
    links = "{} symlink(s) of the closure leave it".format(len(plan.escaping))
    if repository_ctx.attr.escaping_symlinks == "fail":
        _fail(repository_ctx, "{}, and escaping_symlinks = \"fail\" refuses them:\n{}\n  Bazel would follow them to files of this machine outside the closure. Fix the package so that they stay in its closure, or set escaping_symlinks = \"drop\" to leave them out.".format(links, escaping_report(plan)))

    # buildifier: disable=print
    print("{}: {}; they are left out of the repository, so that no file of this machine outside the closure becomes an input:\n{}\n  A program that follows them finds nothing where actions map the closure. Set escaping_symlinks = \"fail\" to refuse such a package.".format(package_who(repository_ctx), links, escaping_report(plan)))

def _report_unnamable(repository_ctx, plan, spaces):
    """Warns about the files left out because Bazel labels cannot name them."""
    which = "a backslash, a colon, a control character or the name \"...\"" + ("" if spaces else "; before Bazel 7.4, a space")

    # buildifier: disable=print
    print("{}: {} file(s) of the closure have names that Bazel labels cannot hold ({}); they are left out of the repository, and an executable among them gets no bin/<name> target:\n{}".format(package_who(repository_ctx), len(plan.unnamable), which, unnamable_report(plan)))

def plan_layout(repository_ctx, root, closure, scan = None):
    """Resolves the closure's symlinks; reports what the repository leaves out (see layout.bzl).

    Fails when a symlink leaves the closure and the package has `escaping_symlinks = "fail"`.

    Args:
      repository_ctx: the repository context.
      root: the root of the store that holds the closure ("" for the host's store).
      closure: every store path of the closure.
      scan: the closure's scan when the fetch made it already (`enter --import`), or None.

    Returns:
      The plan of layout.bzl's plan_closure.
    """
    spaces = runfiles_hold_spaces(repository_ctx)
    plan = plan_closure(scan or scan_closure(repository_ctx, root, closure, spaces), closure)
    if plan.escaping:
        _report_escaping(repository_ctx, plan)
    if plan.unnamable:
        _report_unnamable(repository_ctx, plan, spaces)
    return plan

def _build_file_text(repository_ctx, inputs):
    attr = repository_ctx.attr
    if inputs.build_file:
        return repository_ctx.read(inputs.build_file)
    if attr.build_file_content:
        return attr.build_file_content
    return _DEFAULT_BUILD

# packed_closure: the archive of the closure, in the repository's _nixstore/.
_NAR = "closure.nar"

def pack_closure(repository_ctx, root, closure, out = "_nixstore/" + _NAR):
    """Writes the NAR of store paths (from the store at root) with `enter --pack`.

    Args:
      repository_ctx: the repository context; `_nixstore/enter` must be installed.
      root: the root of the store that holds them ("" for the host's store).
      closure: the store paths, e.g. a package's closure.
      out: the archive's path in the repository.

    Returns:
      The archive's sha256, in hex.
    """
    repository_ctx.report_progress("packing {} ({} store paths)".format(out, len(closure)))
    enter = repository_ctx.path("_nixstore/enter")
    argv = [enter, "--pack", repository_ctx.path(out), root + "/nix/store"] + [p[len("/nix/store/"):] for p in closure]
    result = repository_ctx.execute(argv, timeout = 3600)
    sha256 = result.stdout.strip()
    if result.return_code != 0 or len(sha256) != 64:
        fail(command_failure(package_who(repository_ctx), "packing the closure failed", argv, result))
    return sha256

def _lay_out_top_level(repository_ctx, out, scan):
    """Links the package's own files at the top level, as rules_nixpkgs does; returns the names of its executables in bin/.

    The scan of `enter --import` says whether the package is a directory and which files its
    bin/ holds; find tells otherwise.
    """
    entry = out[len("/nix/store/"):]
    if scan and scan.dirs != None:
        is_dir = out in scan.dirs
    else:
        is_dir = bool(_find(repository_ctx, "nix/store/" + entry, ["-maxdepth", "0", "-type", "d"]))
    if not is_dir:
        return []
    for child in repository_ctx.path("nix/store/" + entry).readdir():
        if child.basename in _RESERVED:
            continue
        repository_ctx.symlink(child, child.basename)
    if scan and scan.dirs != None:
        unnamable = ["{}/bin/{}".format(out, e) for e in scan.executables.get(out, [])]
        return sorted([e for e, u in zip(scan.executables.get(out, []), unnamable) if u not in scan.unnamable])
    return _find(repository_ctx, "nix/store/{}/bin".format(entry), ["-mindepth", "1", "-maxdepth", "1", "-type", "f"])

def _write_nixstore_dir(repository_ctx, launchers, nar_sha256):
    """Writes `_nixstore/`'s BUILD file (exporting `enter` and the packed closure) and the prelude."""
    repository_ctx.file("_nixstore/BUILD.bazel", "\n".join([
        "# {} (nixpkgs_package)".format(REPOSITORY_HEADER),
        "exports_files({}, visibility = [\"//visibility:public\"])".format(repr(["enter"] + ([_NAR] if nar_sha256 else []))),
        "",
    ]))
    repository_ctx.file("_nixstore/prelude.bzl", _PRELUDE.format(header = REPOSITORY_HEADER, launchers = repr(launchers)))

def _launcher_targets(out, launchers, nar_sha256):
    """The lines of the BUILD file that rules_nixstore adds: `:closure` and one nixstore_executable per launcher."""
    targets = [
        "",
        "# --- added by rules_nixstore: the runtime closure and one launcher per executable ---",
        "filegroup(",
        "    name = \"closure\",",
        "    srcs = glob([\"nix/store/**\"]),",
        "    visibility = [\"//visibility:public\"],",
        ")",
    ]
    carried = ["    closure = \":closure\","]
    if nar_sha256:
        carried = ["    nar = \"//_nixstore:{}\",".format(_NAR), "    nar_sha256 = \"{}\",".format(nar_sha256)]
    for launcher in launchers:
        targets.extend([
            "",
            "nixstore_executable(",
            "    name = {},".format(repr(launcher)),
        ] + carried + [
            "    enter = \"//_nixstore:enter\",",
            "    program = {},".format(repr("{}/{}".format(out, launcher))),
            "    visibility = [\"//visibility:public\"],",
            ")",
        ])
    return targets

def lay_out_package(repository_ctx, inputs, root, outputs, closure, plan, scan = None):
    """Lays out the closure (from the store at root), the package's files, launchers and BUILD.

    Args:
      repository_ctx: the repository context.
      inputs: the resolved inputs (see package.bzl's resolve_inputs).
      root: the root of the store that holds the closure ("" for the host's store).
      outputs: the package's output paths; the last one is the package.
      closure: every store path of the closure.
      plan: the result of plan_layout.
      scan: the closure's scan when the fetch made it (`enter --import`), or None.
    """
    out = outputs[-1]
    lay_out_closure(repository_ctx, root, closure, plan)
    repository_ctx.file("nix/closure.txt", "\n".join(closure) + "\n")
    executables = _lay_out_top_level(repository_ctx, out, scan)
    error = install_enter(repository_ctx, inputs.enter_binaries, "_nixstore/enter")
    if error:
        _fail(repository_ctx, error)
    nar_sha256 = pack_closure(repository_ctx, root, closure) if repository_ctx.attr.packed_closure else None
    launchers = ["bin/" + e for e in executables]
    _write_nixstore_dir(repository_ctx, launchers, nar_sha256)
    repository_ctx.file("BUILD.bazel", "\n".join([
        "# {} (nixpkgs_package: {})".format(REPOSITORY_HEADER, out),
        "load(\"//_nixstore:prelude.bzl\", \"exports_files\", \"filegroup\")",
        "load(\"{}\", \"nixstore_executable\")".format(inputs.executable_bzl),
        _build_file_text(repository_ctx, inputs),
    ] + _launcher_targets(out, launchers, nar_sha256)) + "\n")
    write_workspace_file(repository_ctx)
