"""nixpkgs_remote_build: a package's Nix build where Bazel runs remotable repository rules.

With `--experimental_repo_remote_exec` and a remote executor, every `execute()` of a
`repository_rule(remotable = True)` runs as a remote action on the executor that the rule's
`exec_properties` select: only files named by Label arguments are uploaded, the command gets
only the environment given here, and only its exit code, stdout and stderr come back (stdout
decoded as US-ASCII). So this rule runs one command, `remote_build.sh`, which builds the
package with the executor's Nix and prints the closure as base64 text; this rule writes that
text down, and the package repository beside it (`remote_build`; remote_closure.bzl) decodes
and lays it out without running Nix. The executor caches successful results: a second client sending
the same command gets them without a build.

Without an executor, the same command runs on the client (which then needs Nix and a store of
its own). This file can only be loaded with `--experimental_repo_remote_exec`.
"""

load(":attrs.bzl", "PACKAGE_ATTRS")
load(":command.bzl", "execute_or_fail")
load(":constants.bzl", "REPOSITORY_HEADER")
load(":evaluation.bzl", "nixpkgs_expression")
load(":names.bzl", "apparent_name", "write_workspace_file")
load(":nix_files.bzl", "NIX_FILES_LIST")
load(":remote_closure.bzl", "REMOTE_BUILD_FORMAT")

# Suffix of the remote build's repository name: `<package>` + this.
REMOTE_BUILD_SUFFIX = "__nixstore_remote_build"

# Seconds a build may take: it becomes the remote action's timeout, which executors bound
# (bb-deployments' schedulers allow 2 hours, this one included).
_TIMEOUT = 7200

# Where stdout's header ends and the base64 archive begins.
_DATA = "\ndata\n"

_BUILD = """\
# {header} (nixpkgs_remote_build of {package})
exports_files(["closure.txt", "closure.tar.gz.b64"], visibility = ["//visibility:public"])
"""

def _package_name(repository_ctx):
    name = apparent_name(repository_ctx)
    return name[:-len(REMOTE_BUILD_SUFFIX)] if name.endswith(REMOTE_BUILD_SUFFIX) else name

def _what(repository_ctx):
    return "nixpkgs_package(name = \"{}\", remotable = True)".format(_package_name(repository_ctx))

def _sibling_label(label, relpath):
    """The label of a file at relpath in the package of label (Bazel 4 and 7+ spell it differently)."""
    if hasattr(label, "same_package_label"):
        return label.same_package_label(relpath)
    return label.relative(":" + relpath)

def _search_args(repository_ctx, name, marker):
    """remote_build.sh's arguments that make a nixpkgs repository `<name>` on the executor.

    A nixpkgs_local_repository's files are uploaded one by one (a remote action uploads only
    files named by Label arguments); it lists them in NIX_FILES_LIST. An http or git nixpkgs
    is fetched on the executor by URL and SHA-256, which its marker file records (first line:
    the URLs, second line: the archive's SHA-256).
    """

    # `@nixpkgs_http` given as a label attribute means `@nixpkgs_http//:nixpkgs_http`: the marker
    # file is `nixpkgs` at the root of that label's repository, whatever its name.
    marker = _sibling_label(marker, "nixpkgs")
    listing = repository_ctx.path(marker).dirname.get_child(NIX_FILES_LIST)
    if listing.exists:
        # Not the marker: it names the client's paths, which must not enter the action's key.
        args = ["--search", name, _sibling_label(marker, "default.nix")]
        for f in repository_ctx.read(listing).splitlines():
            if f and f != "default.nix":
                args.extend(["--input", _sibling_label(marker, f)])
        return args
    lines = repository_ctx.read(marker).splitlines()
    if len(lines) < 2 or len(lines[1]) != 64:
        fail("{}: {} is neither a nixpkgs_local_repository nor a downloaded nixpkgs (its marker file holds no URLs and SHA-256).".format(_what(repository_ctx), marker))
    return ["--search-archive", name, lines[1], lines[0]]

def _argv(repository_ctx):
    """remote_build.sh's command line: Labels for every file it needs, then nix-build's arguments."""
    attr = repository_ctx.attr
    argv = [
        "/bin/sh",
        Label("//rules/private:remote_build.sh"),
        _package_name(repository_ctx),
        str(attr.max_closure_mib * 1024 * 1024),
    ]
    if attr.remote_closure == "shared-store":
        argv.append("--shared-store")
    for name, label in sorted([(name, label) for label, name in attr.repositories.items()]):
        argv.extend(_search_args(repository_ctx, name, label))
    attribute_path = attr.attribute_path
    if attr.nix_file:
        argv.extend(["--file", attr.nix_file])
    for dep in attr.nix_file_deps:
        argv.extend(["--input", dep])
    argv.append("--")
    if attr.nix_file_content:
        argv.extend(["-E", attr.nix_file_content])
    elif not attr.nix_file:
        argv.extend(["-E", nixpkgs_expression()])
        attribute_path = attribute_path or _package_name(repository_ctx)
    if attribute_path:
        argv.extend(["-A", attribute_path])
    return argv + attr.nixopts, attribute_path

def _nixpkgs_remote_build_impl(repository_ctx):
    attr = repository_ctx.attr
    if attr.nix_file and attr.nix_file_content:
        fail("{}: set nix_file or nix_file_content, not both.".format(_what(repository_ctx)))
    argv, attribute_path = _argv(repository_ctx)
    repository_ctx.report_progress("nix-build {} (remotable)".format(attribute_path or "(default)"))
    result = execute_or_fail(
        repository_ctx,
        argv,
        "the build of attribute_path '{}' failed where remotable rules run".format(attribute_path or "(default)"),
        who = _what(repository_ctx),
        environment = {"PATH": attr.remote_path, "LC_ALL": "C"},
        # stdout is the closure; stderr (Nix's log) is shown when the build fails.
        quiet = True,
        timeout = _TIMEOUT,
    )
    at = result.stdout.find(_DATA)
    if not result.stdout.startswith(REMOTE_BUILD_FORMAT + "\n") or at < 0:
        fail("{}: the remote build's output is not what remote_build.sh prints (an older or foreign script?). Its first line: {}\nIts stderr:\n{}".format(
            _what(repository_ctx),
            result.stdout.split("\n")[0][:200],
            result.stderr,
        ))
    repository_ctx.file("closure.txt", result.stdout[:at + 1])
    repository_ctx.file("closure.tar.gz.b64", result.stdout[at + len(_DATA):])
    repository_ctx.file("BUILD.bazel", _BUILD.format(header = REPOSITORY_HEADER, package = _package_name(repository_ctx)))
    write_workspace_file(repository_ctx)

nixpkgs_remote_build = repository_rule(
    implementation = _nixpkgs_remote_build_impl,
    attrs = PACKAGE_ATTRS,
    remotable = True,
    doc = "Builds a `nixpkgs_package` with Nix where Bazel runs remotable repository rules (the remote executor that `exec_properties` selects) and records the closure it sends back. Declared by the remotable `nixpkgs_package` of `@rules_nixstore//rules:remotable.bzl`, not by hand.",
)
