"""nixpkgs_package: a Nix package, its whole runtime closure and launchers, as a Bazel repository."""

load(":attrs.bzl", "PACKAGE_ATTRS", "PACKAGE_DOC")
load(":command.bzl", "command_failure", "execute_or_fail")
load(":constants.bzl", "REPOSITORY_HEADER")
load(":enter.bzl", "enter_binaries", "install_enter")
load(":evaluation.bzl", "nixpkgs_expression")
load(
    ":layout.bzl",
    "escaping_report",
    "lay_out_closure",
    "plan_closure",
    "runfiles_hold_spaces",
    "scan_closure",
    "unnamable_report",
)
load(
    ":lock.bzl",
    "LOCK_ENV",
    "check_built",
    "check_pinned",
    "inputs_digest",
    "lock_update_requested",
    "read_lock_entry",
    "write_record",
)
load(":machine_cache.bzl", "import_closure", "import_pinned", "init_machine_cache", "machine_cache")
load(":names.bzl", "apparent_name", "package_who", "sibling_file", "write_workspace_file")
load(":nix_files.bzl", "lay_out_nix_files")
load(":store.bzl", "NIX_OPTIONS", "find_nix", "gc_root_argv", "init_store", "run_nix", "run_nix_or_fail", "store_root")

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

def repositories_by_label(what, repository, repositories):
    """The `repositories` attribute of the rule from the macro's (or tag's) readable form.

    Args:
      what: names the caller in messages, e.g. `nixpkgs_package(name = "jq")`.
      repository: a nixpkgs repository label, or None: `repositories = {"nixpkgs": repository}`.
      repositories: dict from a Nix search path name to a repository label; `@repo` alone
        means that repository's marker file `@repo//:nixpkgs`.

    Returns:
      A dict from label to Nix search path name.
    """
    if repository and repositories:
        fail("{}: set repository or repositories, not both.".format(what))
    if repository:
        repositories = {"nixpkgs": repository}
    by_label = {}
    for nix_name, label in repositories.items():
        # "@nixpkgs" means the repository: its marker file //:nixpkgs (whatever its name).
        if type(label) == "string" and label.startswith("@") and "//" not in label:
            label = label + "//:nixpkgs"
        if label in by_label:
            fail("{}: repositories maps both '{}' and '{}' to {}; give each label one name.".format(
                what,
                by_label[label],
                nix_name,
                label,
            ))
        by_label[label] = nix_name
    return by_label

def _label_string(label):
    """A label usable from a BUILD file of another repository, on Bazel 4 and on Bazel 7+."""
    s = str(label)
    if s.startswith("//"):
        s = "@" + s
    return s

def _fail(repository_ctx, message):
    fail("{}: {}".format(package_who(repository_ctx), message))

def _not_supported(repository_ctx, reason):
    if repository_ctx.attr.fail_not_supported:
        _fail(repository_ctx, reason + "\n  Install Nix (Debian: apt-get install nix-bin), or set fail_not_supported = False to get an empty repository instead.")
    write_workspace_file(repository_ctx)
    repository_ctx.file("BUILD.bazel", "# {} (nixpkgs_package)\n# Empty: {}\n".format(REPOSITORY_HEADER, reason))

def _resolve_inputs(repository_ctx):
    """Resolves every label before the first command runs, so Bazel never restarts the rule after Nix."""
    attr = repository_ctx.attr
    inputs = struct(
        nix_file = (attr.nix_file, repository_ctx.path(attr.nix_file)) if attr.nix_file else None,
        deps = [(d, repository_ctx.path(d)) for d in attr.nix_file_deps],
        repositories = [(name, repository_ctx.path(label)) for label, name in attr.repositories.items()],
        build_file = repository_ctx.path(attr.build_file) if attr.build_file else None,
        lock = repository_ctx.path(attr.lock) if attr.lock else None,
        enter_binaries = enter_binaries(repository_ctx),
        executable_bzl = _label_string(Label("//rules/private:executable.bzl")),
    )
    return inputs

def _validate(repository_ctx):
    attr = repository_ctx.attr
    if attr.build_file and attr.build_file_content:
        _fail(repository_ctx, "set build_file or build_file_content, not both.")
    if attr.nix_file and attr.nix_file_content:
        _fail(repository_ctx, "set nix_file or nix_file_content, not both.")
    if attr.repository:
        _fail(repository_ctx, "the repository attribute is folded into repositories by the nixpkgs_package macro; load nixpkgs_package from @rules_nixstore//rules:defs.bzl.")

def _nix_build_argv(repository_ctx, inputs, nix_build, store_args):
    attr = repository_ctx.attr
    argv = [nix_build]

    # nix_file and nix_file_deps are evaluated from their layout in the repository (see
    # nix_files.bzl), so that only declared files are visible and relative imports resolve.
    nix_file_at = lay_out_nix_files(repository_ctx, "_nixstore/src", inputs.nix_file, inputs.deps).nix_file
    if nix_file_at:
        argv.append(str(repository_ctx.path(nix_file_at)))
        attribute_path = attr.attribute_path
    elif attr.nix_file_content:
        repository_ctx.file("_nixstore/src/default.nix", attr.nix_file_content)
        argv.append(str(repository_ctx.path("_nixstore/src/default.nix")))
        attribute_path = attr.attribute_path
    else:
        argv.extend(["-E", nixpkgs_expression()])
        attribute_path = attr.attribute_path or apparent_name(repository_ctx)
    if attribute_path:
        argv.extend(["-A", attribute_path])
    for name, path in inputs.repositories:
        argv.extend(["-I", "{}={}".format(name, path.dirname)])
    argv.extend(store_args)
    argv.extend(["--out-link", str(repository_ctx.path("_nixstore/result"))])
    argv.extend(attr.nixopts)
    return argv, attribute_path

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

def _plan_layout(repository_ctx, root, closure):
    """Resolves the closure's symlinks; reports what the repository leaves out (see layout.bzl)."""
    spaces = runfiles_hold_spaces(repository_ctx)
    plan = plan_closure(scan_closure(repository_ctx, root, closure, spaces), closure)
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

def _add_roots(repository_ctx, nix_store, store_args, outputs, what):
    """Makes the repository's `_nixstore/result*` links garbage collector roots of the outputs."""
    run_nix_or_fail(
        repository_ctx,
        gc_root_argv(repository_ctx, nix_store, store_args, outputs),
        "registering the {} as garbage collector roots failed".format(what),
        who = package_who(repository_ctx),
    )

def _shared_derivation(repository_ctx, root):
    """The derivation that the package's shared evaluation recorded ("<drv>!<output>"), or None.

    None when the package has no shared evaluation, when that evaluation failed (the package then
    evaluates on its own, so that Nix's message names it), or when the derivation has left the
    store since (a garbage collection).
    """
    evaluation = repository_ctx.attr.evaluation
    if not evaluation:
        return None
    drv = repository_ctx.read(sibling_file(repository_ctx, evaluation, apparent_name(repository_ctx) + ".drv")).strip()
    if not drv or not repository_ctx.path(root + drv.split("!")[0]).exists:
        return None
    return drv

def _build_command(repository_ctx, inputs, nix_build, nix_store, store_args, drv):
    """How the package builds: struct(argv, what (for messages), attribute_path, progress)."""
    if not drv:
        argv, attribute_path = _nix_build_argv(repository_ctx, inputs, nix_build, store_args)
        shown = attribute_path or "(default)"
        return struct(argv = argv, what = "nix-build", attribute_path = shown, progress = "nix-build " + shown)
    attribute_path = repository_ctx.attr.attribute_path or apparent_name(repository_ctx)
    return struct(
        argv = [nix_store] + store_args + repository_ctx.attr.nixopts + ["--realise", drv],
        what = "nix-store --realise " + drv,
        attribute_path = attribute_path,
        progress = "nix-store --realise {} (evaluated with its nixpkgs)".format(attribute_path),
    )

def _realise(repository_ctx, inputs, nix_build, nix_store, store_args, root):
    """Builds the package: realises its shared evaluation's derivation, or runs nix-build."""
    drv = _shared_derivation(repository_ctx, root)
    command = _build_command(repository_ctx, inputs, nix_build, nix_store, store_args, drv)
    repository_ctx.report_progress(command.progress)
    result = run_nix_or_fail(
        repository_ctx,
        command.argv,
        "{} failed for attribute_path '{}'".format(command.what, command.attribute_path),
        who = package_who(repository_ctx),
        quiet = repository_ctx.attr.quiet,
    )
    outputs = [line for line in result.stdout.splitlines() if line.startswith("/nix/store/")]
    if not outputs:
        fail(command_failure(package_who(repository_ctx), command.what + " printed no store path", command.argv, result, said = "Nix said"))
    if drv:
        _add_roots(repository_ctx, nix_store, store_args, outputs, "outputs")
    return outputs

def _build(repository_ctx, inputs, nix_build, nix_store, store_args, root):
    """Builds the package; returns (outputs, closure, NAR hash of each closure path)."""
    outputs = _realise(repository_ctx, inputs, nix_build, nix_store, store_args, root)
    out = outputs[-1]

    repository_ctx.report_progress("closure of {}".format(out))
    argv = [nix_store] + store_args + ["--query", "--requisites", out]
    result = run_nix_or_fail(repository_ctx, argv, "nix-store --query --requisites {} failed".format(out), who = package_who(repository_ctx))
    closure = sorted([line for line in result.stdout.splitlines() if line.startswith("/nix/store/")])
    argv = [nix_store] + store_args + ["--query", "--hash"] + closure
    result = run_nix(repository_ctx, argv)
    hashes = result.stdout.splitlines()
    if result.return_code != 0 or len(hashes) != len(closure):
        fail(command_failure(package_who(repository_ctx), "nix-store --query --hash failed for the closure of " + out, argv, result, said = "Nix said"))
    return outputs, closure, {path: hash for path, hash in zip(closure, hashes)}

def _read_remote_build(repository_ctx):
    """The outputs and closure that the package's remote build recorded, and its archive's path."""
    remote = repository_ctx.attr.remote_build
    header = repository_ctx.read(sibling_file(repository_ctx, remote, "closure.txt"))
    archive = sibling_file(repository_ctx, remote, "closure.tar.gz.b64")
    fields = {"out": [], "path": [], "exe": [], "closure": []}
    for line in header.splitlines():
        words = line.split(" ")
        if words[0] in fields and len(words) >= 2:
            fields[words[0]].append(words[1])
    if not fields["out"] or not fields["path"]:
        _fail(repository_ctx, "the remote build {} recorded no output or no closure:\n{}".format(remote, header[:2000]))
    return struct(
        outputs = fields["out"],
        closure = sorted(fields["path"]),
        executables = fields["exe"],
        shared_store = "shared-store" in fields["closure"],
        archive = archive,
    )

# A shared-store package's bin/<exe>: runs the store path where the executor's store has it.
_SHARED_STORE_WRAPPER = """\
#!/bin/sh
# {header} (nixpkgs_package {package}, remote_closure = "shared-store")
p={program}
if ! [ -x "$p" ]; then
    echo "rules_nixstore: $p (package {package}) is not in this machine's /nix/store. Actions that use a shared-store package run on the executors that share the Nix pool's store: give them its exec_properties (or use remote_closure = \\"fetch\\")." >&2
    exit 127
fi
exec "$p" "$@"
"""

def _shared_store_package(repository_ctx, build):
    """A package whose closure stays in the executors' shared store: bin/<exe> wrappers only."""
    out = build.outputs[-1]
    package = apparent_name(repository_ctx)
    for exe in build.executables:
        repository_ctx.file("bin/" + exe, _SHARED_STORE_WRAPPER.format(
            header = REPOSITORY_HEADER,
            package = package,
            program = "{}/bin/{}".format(out, exe),
        ), executable = True)
    bins = repr(["bin/" + e for e in build.executables])
    repository_ctx.file("nix/closure.txt", "\n".join(build.closure) + "\n")
    repository_ctx.file("BUILD.bazel", "\n".join([
        "# {} (nixpkgs_package: {}, in the executors' shared store)".format(REPOSITORY_HEADER, out),
        "package(default_visibility = [\"//visibility:public\"])",
        "",
        "exports_files({})".format(bins),
        "",
        "filegroup(",
        "    name = \"bin\",",
        "    srcs = {},".format(bins),
        ")",
        "",
        "# Empty: the closure stays in the shared store.",
        "filegroup(",
        "    name = \"closure\",",
        "    srcs = [],",
        ")",
        "",
    ]))
    write_workspace_file(repository_ctx)

def _remote_package(repository_ctx, inputs):
    """Lays out the closure that a remote build sent back: no Nix command runs here."""
    build = _read_remote_build(repository_ctx)
    if build.shared_store:
        _shared_store_package(repository_ctx, build)
        return
    outputs, closure, archive = build.outputs, build.closure, build.archive
    repository_ctx.report_progress("unpacking the closure of {} ({} store paths)".format(outputs[-1], len(closure)))
    tarball = "closure.tar.gz"
    execute_or_fail(
        repository_ctx,
        ["/bin/sh", "-c", "exec base64 -d -- \"$1\" > \"$2\"", "decode", str(archive), str(repository_ctx.path(tarball))],
        "decoding the closure sent by the remote build failed",
        who = package_who(repository_ctx),
        timeout = 3600,
    )
    repository_ctx.extract(tarball, "_nixstore/remote")
    repository_ctx.delete(tarball)
    root = str(repository_ctx.path("_nixstore/remote"))
    _lay_out_package(repository_ctx, inputs, root, outputs, closure, _plan_layout(repository_ctx, root, closure))

def _nixpkgs_package_impl(repository_ctx):
    _validate(repository_ctx)
    inputs = _resolve_inputs(repository_ctx)
    if repository_ctx.attr.remote_build:
        _remote_package(repository_ctx, inputs)
        return
    cache = machine_cache(repository_ctx) if repository_ctx.attr.store != "system" else None
    nix, why_not = find_nix(repository_ctx, ["nix-build", "nix-store"])
    if why_not:
        _not_supported(repository_ctx, why_not)
        return
    nix_build = nix["nix-build"]
    nix_store = nix["nix-store"]
    store = repository_ctx.attr.store
    if store == "system":
        # The host's store, as the host's Nix configuration defines it (maybe through a daemon).
        root = ""
        store_args = []
    else:
        root = store_root(repository_ctx)
        store_args = ["--store", root] + NIX_OPTIONS

    # store_args: the store that evaluates and builds; the machine cache's when it is on, whose
    # closure is then brought into the output base's store (machine_cache.bzl).
    output_base_args = store_args
    if cache:
        store_args = cache.args
    store_files = root + "/nix/store"
    digest = inputs_digest(repository_ctx, inputs, store)
    entry = None
    if inputs.lock and not lock_update_requested(repository_ctx):
        entry = read_lock_entry(repository_ctx, inputs.lock, repository_ctx.attr.lock)
    if root:
        init_store(repository_ctx, root, nix_store)
    if cache:
        init_machine_cache(repository_ctx, cache, nix_store)

    pinned = False
    if entry and entry.inputs == digest:
        repository_ctx.report_progress("verifying the {} store paths pinned by the lock file".format(len(entry.closure)))
        pinned = check_pinned(repository_ctx, entry, nix_store, output_base_args, store_files)
        if not pinned and cache:
            pinned = import_pinned(repository_ctx, cache, nix_store, root, entry)
    if pinned:
        # No evaluation: the lock names the outputs and their closure, and the store holds them.
        outputs = entry.out
        closure = sorted(entry.closure.keys())
        closure_hashes = entry.closure
        _add_roots(repository_ctx, nix_store, output_base_args, outputs, "pinned outputs")
    else:
        build_root = cache.root if cache else root
        outputs, closure, closure_hashes = _build(repository_ctx, inputs, nix_build, nix_store, store_args, build_root)
        if cache and not import_closure(repository_ctx, cache, nix_store, root, outputs, closure):
            outputs, closure, closure_hashes = _build(repository_ctx, inputs, nix_build, nix_store, output_base_args, root)
        if entry:
            check_built(repository_ctx, entry, repository_ctx.attr.lock, outputs, closure_hashes)
    plan = _plan_layout(repository_ctx, root, closure)
    write_record(repository_ctx, digest, outputs, closure_hashes)
    _lay_out_package(repository_ctx, inputs, root, outputs, closure, plan)

# packed_closure: the archive of the closure, in the repository's _nixstore/.
_NAR = "closure.nar"

def _pack_closure(repository_ctx, root, closure):
    """Writes the NAR of the closure (from the store at root) with `enter --pack`; its sha256."""
    repository_ctx.report_progress("packing the closure ({} store paths)".format(len(closure)))
    enter = repository_ctx.path("_nixstore/enter")
    argv = [enter, "--pack", repository_ctx.path("_nixstore/" + _NAR), root + "/nix/store"] + [p[len("/nix/store/"):] for p in closure]
    result = repository_ctx.execute(argv, timeout = 3600)
    sha256 = result.stdout.strip()
    if result.return_code != 0 or len(sha256) != 64:
        fail(command_failure(package_who(repository_ctx), "packing the closure failed", argv, result))
    return sha256

def _lay_out_package(repository_ctx, inputs, root, outputs, closure, plan):
    """Lays out the closure (from the store at root), the package's files, launchers and BUILD."""
    out = outputs[-1]
    lay_out_closure(repository_ctx, root, closure, plan)
    repository_ctx.file("nix/closure.txt", "\n".join(closure) + "\n")

    # The package's own files at the top level, as rules_nixpkgs does.
    entry = out[len("/nix/store/"):]
    executables = []
    if _find(repository_ctx, "nix/store/" + entry, ["-maxdepth", "0", "-type", "d"]):
        for child in repository_ctx.path("nix/store/" + entry).readdir():
            if child.basename in _RESERVED:
                continue
            repository_ctx.symlink(child, child.basename)
        executables = _find(repository_ctx, "nix/store/{}/bin".format(entry), ["-mindepth", "1", "-maxdepth", "1", "-type", "f"])

    error = install_enter(repository_ctx, inputs.enter_binaries, "_nixstore/enter")
    if error:
        _fail(repository_ctx, error)
    nar_sha256 = _pack_closure(repository_ctx, root, closure) if repository_ctx.attr.packed_closure else None
    launchers = ["bin/" + e for e in executables]
    repository_ctx.file("_nixstore/BUILD.bazel", "\n".join([
        "# {} (nixpkgs_package)".format(REPOSITORY_HEADER),
        "exports_files({}, visibility = [\"//visibility:public\"])".format(repr(["enter"] + ([_NAR] if nar_sha256 else []))),
        "",
    ]))
    repository_ctx.file("_nixstore/prelude.bzl", _PRELUDE.format(header = REPOSITORY_HEADER, launchers = repr(launchers)))

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
    repository_ctx.file("BUILD.bazel", "\n".join([
        "# {} (nixpkgs_package: {})".format(REPOSITORY_HEADER, out),
        "load(\"//_nixstore:prelude.bzl\", \"exports_files\", \"filegroup\")",
        "load(\"{}\", \"nixstore_executable\")".format(inputs.executable_bzl),
        _build_file_text(repository_ctx, inputs),
    ] + targets) + "\n")
    write_workspace_file(repository_ctx)

nixpkgs_package_rule = repository_rule(
    implementation = _nixpkgs_package_impl,
    attrs = PACKAGE_ATTRS,
    doc = PACKAGE_DOC,
    environ = ["NIX_CONFIG", "NIX_PATH", LOCK_ENV],
)
