"""A package whose closure a remote build sent back (remote_build.bzl): checked, unpacked and laid out here without Nix, or, with `remote_closure = "shared-store"`, left in the executors' shared store.

The closure travels as the remote command's stdout (base64 text, the only channel a remotable
repository rule has), through the executor, the remote cache and the client's Bazel server. So
before anything is laid out, the client checks it end to end against what the remote build
recorded: the archive's size and sha256, then the NAR hash of every store path unpacked from it
against the hash the executor's Nix store holds for that path (`_nixstore/enter --nar-hash`, the
exact bytes `nix-store --dump` hashes). A closure that fails a check is refused naming the
package, and what was decoded and unpacked is removed: nothing half-laid-out stays.
"""

load(":command.bzl", "command_failure")
load(":constants.bzl", "REPOSITORY_HEADER")
load(":enter.bzl", "install_enter")
load(":names.bzl", "apparent_name", "package_who", "sibling_file", "write_workspace_file")
load(":package_contents.bzl", "lay_out_package", "plan_layout")
load(":store_path.bzl", "is_nar_hash", "is_store_path", "store_path_name")

# The first line of what remote_build.sh prints: the format of the record read here.
REMOTE_BUILD_FORMAT = "nixstore-remote-build 2"

# Where the archive is decoded, and unpacked, in the package repository (both removed after use).
_TARBALL = "closure.tar.gz"
_UNPACKED = "_nixstore/remote"

# What a refused closure's message advises.
_FIX = "The executor caches the build's result: fetch again with --noremote_accept_cached to have it build and send the closure afresh, and check the remote cache's storage if this happens again."

# The characters of an executable name of a shared-store package (remote_build.sh sends no
# other): printable ASCII but a blank, which ends a word of the record, and what no Bazel label
# can hold (`\\`, `:`) or a file name cannot (`/`).
_NAME_CHARACTERS = "!\"#$%&'()*+,-.0123456789;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~"

def _fit_executable(name):
    return name not in ["", ".", "..", "..."] and not [c for c in name.elems() if c not in _NAME_CHARACTERS]

def _malformed(repository_ctx, remote, why, header):
    fail("{}: the record of the remote build {} {}: it is not what remote_build.sh prints (an older or foreign script?). The record:\n{}".format(
        package_who(repository_ctx),
        remote,
        why,
        header[:2000],
    ))

def _read_remote_build(repository_ctx):
    """What the package's remote build recorded: outputs, closure and NAR hashes, executables, archive."""
    remote = repository_ctx.attr.remote_build
    header = repository_ctx.read(sibling_file(repository_ctx, remote, "closure.txt"))
    lines = header.splitlines()
    if not lines or lines[0] != REMOTE_BUILD_FORMAT:
        _malformed(repository_ctx, remote, "does not start with '{}'".format(REMOTE_BUILD_FORMAT), header)
    outputs, hashes, executables, shared_store, archive = [], {}, [], False, None
    for line in lines[1:]:
        words = line.split(" ")
        if words[0] == "out" and len(words) == 2 and is_store_path(words[1]):
            outputs.append(words[1])
        elif words[0] == "path" and len(words) == 3 and is_store_path(words[1]) and is_nar_hash(words[2]):
            hashes[words[1]] = words[2]
        elif words[0] == "exe" and len(words) == 2 and _fit_executable(words[1]):
            executables.append(words[1])
        elif words == ["closure", "shared-store"]:
            shared_store = True
        elif words[0] == "archive" and len(words) in [2, 3] and words[1].isdigit():
            archive = struct(size = int(words[1]), sha256 = words[2] if len(words) == 3 else "")
        else:
            _malformed(repository_ctx, remote, "holds the line {}".format(repr(line[:200])), header)
    if not outputs or not hashes or archive == None:
        _malformed(repository_ctx, remote, "names no output, no closure or no archive", header)
    if outputs[-1] not in hashes:
        _malformed(repository_ctx, remote, "does not list its output {} in the closure".format(outputs[-1]), header)
    if not shared_store and (len(archive.sha256) != 64 or [c for c in archive.sha256.elems() if c not in "0123456789abcdef"]):
        _malformed(repository_ctx, remote, "gives the archive no sha256", header)
    return struct(
        remote = remote,
        outputs = outputs,
        closure = sorted(hashes.keys()),
        hashes = hashes,
        executables = executables,
        shared_store = shared_store,
        archive = archive,
        text = sibling_file(repository_ctx, remote, "closure.tar.gz.b64"),
    )

def shell_quoted(text):
    """Text as one word of POSIX shell: in single quotes, each of its own quotes as '\\''.

    Args:
      text: any string.

    Returns:
      The quoted word, which the shell reads back as exactly `text`.
    """
    return "'" + text.replace("'", "'\\''") + "'"

# A shared-store package's bin/<exe>: runs the store path where the executor's store has it.
# Every value is a quoted word: no name can end the string or be evaluated.
_SHARED_STORE_WRAPPER = """\
#!/bin/sh
# {header} (nixpkgs_package, remote_closure = "shared-store")
package={package}
p={program}
if ! [ -x "$p" ]; then
    echo "rules_nixstore: $p (package $package) is not in this machine's /nix/store. Actions that use a shared-store package run on the executors that share the Nix pool's store: give them its exec_properties (or use remote_closure = \\"fetch\\")." >&2
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
            package = shell_quoted(package),
            program = shell_quoted("{}/bin/{}".format(out, exe)),
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

def _refuse(repository_ctx, build, message):
    """Fails naming the package, after removing what was decoded and unpacked."""
    for leftover in [_TARBALL, "_nixstore"]:
        repository_ctx.delete(leftover)
    fail("{}: the closure that the remote build {} sent is refused: {}\n  Nothing was laid out. {}".format(package_who(repository_ctx), build.remote, message, _FIX))

def _run(repository_ctx, build, argv, what):
    """Runs a command of the checks; refuses the closure, with the command's failure, when it fails."""
    result = repository_ctx.execute(argv, timeout = 3600)
    if result.return_code != 0:
        _refuse(repository_ctx, build, command_failure(None, what, argv, result))
    return result.stdout

def _decode_and_check_archive(repository_ctx, build):
    """Decodes the archive the remote build sent and checks its size and sha256 against its record."""
    tarball = str(repository_ctx.path(_TARBALL))
    _run(repository_ctx, build, ["/bin/sh", "-c", "exec base64 -d -- \"$1\" > \"$2\"", "decode", str(build.text), tarball], "decoding the closure archive that the remote build sent failed")
    size = int(_run(repository_ctx, build, ["wc", "-c", tarball], "measuring the closure archive failed").strip().split(" ")[0])
    if size != build.archive.size:
        _refuse(repository_ctx, build, "the archive that arrived is {} bytes, but the remote build sent {}: it was cut short or altered on its way.".format(size, build.archive.size))
    sha256 = _run(repository_ctx, build, ["sha256sum", "--", tarball], "hashing the closure archive failed").split(" ")[0]
    if sha256 != build.archive.sha256:
        _refuse(repository_ctx, build, "the archive that arrived has sha256 {}, but the remote build sent one with sha256 {}: it was altered on its way.".format(sha256, build.archive.sha256))

def _check_nar_hashes(repository_ctx, build, root):
    """Checks that every store path unpacked under root has the NAR hash the executor's store records."""
    names = [store_path_name(p) for p in build.closure]

    # find names each missing path (and fails): the archive lacks it.
    _run(repository_ctx, build, ["find"] + [root + p for p in build.closure] + ["-maxdepth", "0", "-printf", "."], "the archive lacks store paths of the closure")
    enter = str(repository_ctx.path("_nixstore/enter"))
    have = _run(repository_ctx, build, [enter, "--nar-hash", root + "/nix/store"] + names, "hashing the store paths of the closure failed").splitlines()
    if len(have) != len(names):
        _refuse(repository_ctx, build, "enter --nar-hash printed {} hashes for {} store paths".format(len(have), len(names)))
    wrong = ["  {}: {} here, {} in the executor's store".format(p, h, build.hashes[p]) for p, h in zip(build.closure, have) if h != build.hashes[p]]
    if wrong:
        _refuse(repository_ctx, build, "{} store path(s) of the closure differ from what the executor's Nix store holds (their NAR hashes):\n{}".format(
            len(wrong),
            "\n".join(wrong[:20] + (["  ... and {} more".format(len(wrong) - 20)] if len(wrong) > 20 else [])),
        ))

def lay_out_remote_closure(repository_ctx, inputs):
    """Lays out the closure that a remote build sent back, once it checked it: no Nix command runs here.

    Args:
      repository_ctx: the repository context of a package with `remote_build` set.
      inputs: the resolved inputs (see package.bzl's resolve_inputs).
    """
    build = _read_remote_build(repository_ctx)
    if build.shared_store:
        _shared_store_package(repository_ctx, build)
        return
    outputs, closure = build.outputs, build.closure
    repository_ctx.report_progress("checking the closure of {} ({} store paths)".format(outputs[-1], len(closure)))
    error = install_enter(repository_ctx, inputs.enter_binaries, "_nixstore/enter")
    if error:
        fail("{}: {}".format(package_who(repository_ctx), error))
    _decode_and_check_archive(repository_ctx, build)
    repository_ctx.extract(_TARBALL, _UNPACKED)
    repository_ctx.delete(_TARBALL)
    root = str(repository_ctx.path(_UNPACKED))
    _check_nar_hashes(repository_ctx, build, root)
    lay_out_package(repository_ctx, inputs, root, outputs, closure, plan_layout(repository_ctx, root, closure))
