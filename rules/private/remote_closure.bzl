"""A package whose closure a remote build sent back (remote_build.bzl): unpacked and laid out here without Nix, or, with `remote_closure = "shared-store"`, left in the executors' shared store."""

load(":command.bzl", "execute_or_fail")
load(":constants.bzl", "REPOSITORY_HEADER")
load(":names.bzl", "apparent_name", "package_who", "sibling_file", "write_workspace_file")
load(":package_contents.bzl", "lay_out_package", "plan_layout")

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
        fail("{}: the remote build {} recorded no output or no closure:\n{}".format(package_who(repository_ctx), remote, header[:2000]))
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

def lay_out_remote_closure(repository_ctx, inputs):
    """Lays out the closure that a remote build sent back: no Nix command runs here.

    Args:
      repository_ctx: the repository context of a package with `remote_build` set.
      inputs: the resolved inputs (see package.bzl's resolve_inputs).
    """
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
    lay_out_package(repository_ctx, inputs, root, outputs, closure, plan_layout(repository_ctx, root, closure))
