"""Repositories that provide a nixpkgs (or any Nix expression tree) to nixpkgs_package.

`nixpkgs_package(repositories = {"nixpkgs": "@nixpkgs"})` passes `-I nixpkgs=<root of @nixpkgs>`
to nix-build. The file `nixpkgs` at the root holds a digest of every input, so that packages
depending on `@nixpkgs` are fetched again when any of them changes.
"""

load(
    ":attrs.bzl",
    "GIT_REPOSITORY_ATTRS",
    "GIT_REPOSITORY_DOC",
    "HTTP_REPOSITORY_ATTRS",
    "HTTP_REPOSITORY_DOC",
    "LOCAL_REPOSITORY_ATTRS",
    "LOCAL_REPOSITORY_DOC",
)
load(":command.bzl", "execute_or_fail")
load(":constants.bzl", "REPOSITORY_HEADER")
load(":names.bzl", "apparent_name", "write_workspace_file")
load(":nix_files.bzl", "NIX_FILES_LIST", "lay_out_nix_files")

_BUILD = """\
# {header} (rules_nixstore {rule})
package(default_visibility = ["//visibility:public"])

exports_files(["nixpkgs", "default.nix", "{files}"])

filegroup(
    name = "srcs",
    srcs = glob(["**"]),
)
"""

def _who(repository_ctx, rule):
    return "{}(name = \"{}\")".format(rule, apparent_name(repository_ctx))

def _fail(repository_ctx, rule, message):
    fail("{}: {}".format(_who(repository_ctx, rule), message))

def _digest(repository_ctx, rule, paths):
    argv = ["sha256sum", "--"] + [str(p) for p in paths]
    return execute_or_fail(repository_ctx, argv, "cannot hash its Nix files", who = _who(repository_ctx, rule)).stdout

def _finish(repository_ctx, rule, marker):
    """Writes the marker file `nixpkgs` (a digest of every input), BUILD.bazel and WORKSPACE."""
    repository_ctx.file("nixpkgs", marker)
    repository_ctx.file("BUILD.bazel", _BUILD.format(header = REPOSITORY_HEADER, rule = rule, files = NIX_FILES_LIST))
    write_workspace_file(repository_ctx)

def _nixpkgs_local_repository_impl(repository_ctx):
    rule = "nixpkgs_local_repository"
    attr = repository_ctx.attr
    if bool(attr.nix_file) == bool(attr.nix_file_content):
        _fail(repository_ctx, rule, "set exactly one of nix_file and nix_file_content.")
    deps = [(label, repository_ctx.path(label)) for label in attr.nix_file_deps]
    nix_file = repository_ctx.path(attr.nix_file) if attr.nix_file else None

    # Copies: remotable packages upload them, and Bazel uploads no symlink.
    laid_out = lay_out_nix_files(repository_ctx, "src", (attr.nix_file, nix_file) if nix_file else None, deps, copy = True)
    if nix_file:
        repository_ctx.file("default.nix", "import ./{}\n".format(laid_out.nix_file))
    else:
        repository_ctx.file("src/default.nix", attr.nix_file_content)
        repository_ctx.file("default.nix", "import ./src/default.nix\n")

    # Every Nix file of the repository, for remotable packages, which upload them one by one.
    files = ["default.nix"] + ([] if nix_file else ["src/default.nix"]) + laid_out.files
    repository_ctx.file(NIX_FILES_LIST, "\n".join(sorted({f: True for f in files}.keys())) + "\n")
    hashed = ([nix_file] if nix_file else [repository_ctx.path("src/default.nix")]) + [p for _, p in deps]
    _finish(repository_ctx, rule, _digest(repository_ctx, rule, hashed))

nixpkgs_local_repository = repository_rule(
    implementation = _nixpkgs_local_repository_impl,
    attrs = LOCAL_REPOSITORY_ATTRS,
    doc = LOCAL_REPOSITORY_DOC,
)

def _download(repository_ctx, rule, urls, strip_prefix):
    """Downloads and extracts the archive, checks it is a Nix expression tree, writes the marker."""
    attr = repository_ctx.attr
    if attr.sha256 and attr.integrity:
        _fail(repository_ctx, rule, "set sha256 or integrity, not both.")
    info = repository_ctx.download_and_extract(
        urls,
        sha256 = attr.sha256,
        integrity = attr.integrity,
        stripPrefix = strip_prefix,
    )
    if not repository_ctx.path("default.nix").exists:
        _fail(repository_ctx, rule, "the archive has no default.nix at its root{}; check strip_prefix.".format(
            " (after strip_prefix = \"{}\")".format(strip_prefix) if strip_prefix else "",
        ))
    if not attr.sha256 and not attr.integrity:
        # buildifier: disable=print
        print("{}: no hash given; pin it with sha256 = \"{}\"".format(_who(repository_ctx, rule), info.sha256))
    _finish(repository_ctx, rule, "{}\n{}\n".format(" ".join(urls), info.sha256))

def _nixpkgs_http_repository_impl(repository_ctx):
    rule = "nixpkgs_http_repository"
    attr = repository_ctx.attr
    urls = ([attr.url] if attr.url else []) + attr.urls
    if not urls:
        _fail(repository_ctx, rule, "set url or urls.")
    _download(repository_ctx, rule, urls, attr.strip_prefix)

nixpkgs_http_repository = repository_rule(
    implementation = _nixpkgs_http_repository_impl,
    attrs = HTTP_REPOSITORY_ATTRS,
    doc = HTTP_REPOSITORY_DOC,
)

def _nixpkgs_git_repository_impl(repository_ctx):
    rule = "nixpkgs_git_repository"
    attr = repository_ctx.attr
    remote = attr.remote.rstrip("/")
    if remote.endswith(".git"):
        remote = remote[:-len(".git")]
    parts = remote.split("/")
    if not remote.startswith("https://github.com/") or len(parts) != 5:
        _fail(repository_ctx, rule, "remote is \"{}\"; only GitHub repositories (https://github.com/<owner>/<repo>) are supported.".format(attr.remote))
    if len(attr.revision) != 40 or not attr.revision.isalnum():
        _fail(repository_ctx, rule, "revision is \"{}\"; give a full 40-hex commit hash (branch and tag names move).".format(attr.revision))
    url = "{}/archive/{}.tar.gz".format(remote, attr.revision)
    _download(repository_ctx, rule, [url], "{}-{}".format(parts[4], attr.revision))

nixpkgs_git_repository = repository_rule(
    implementation = _nixpkgs_git_repository_impl,
    attrs = GIT_REPOSITORY_ATTRS,
    doc = GIT_REPOSITORY_DOC,
)
