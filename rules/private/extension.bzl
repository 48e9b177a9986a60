"""The `nixstore` module extension: nixpkgs repositories and Nix packages under bzlmod.

Loaded only by MODULE.bazel files (through rules/extensions.bzl): `module_extension` and
`tag_class` do not exist on Bazel 4.
"""

load(
    ":attrs.bzl",
    "CC_CONFIGURE_TAG",
    "CC_CONFIGURE_TAG_ATTRS",
    "CC_CONFIGURE_TAG_DOC",
    "GIT_REPOSITORY_TAG",
    "GIT_REPOSITORY_TAG_ATTRS",
    "GIT_REPOSITORY_TAG_DOC",
    "HTTP_REPOSITORY_TAG",
    "HTTP_REPOSITORY_TAG_ATTRS",
    "HTTP_REPOSITORY_TAG_DOC",
    "LOCAL_REPOSITORY_TAG",
    "LOCAL_REPOSITORY_TAG_ATTRS",
    "LOCAL_REPOSITORY_TAG_DOC",
    "PACKAGE_TAG",
    "PACKAGE_TAG_ATTRS",
    "PACKAGE_TAG_DOC",
)
load(":cc_configure.bzl", "nixpkgs_cc_toolchain", "nixpkgs_cc_toolchains")
load(":module_requests.bzl", "parse_modules")
load(
    ":nixpkgs_repository.bzl",
    "nixpkgs_git_repository",
    "nixpkgs_http_repository",
    "nixpkgs_local_repository",
)
load(":package.bzl", "repositories_by_label")
load(":package_set.bzl", "declare_package_set")

_TAGS = {
    CC_CONFIGURE_TAG: (CC_CONFIGURE_TAG_ATTRS, CC_CONFIGURE_TAG_DOC, None),
    GIT_REPOSITORY_TAG: (GIT_REPOSITORY_TAG_ATTRS, GIT_REPOSITORY_TAG_DOC, nixpkgs_git_repository),
    HTTP_REPOSITORY_TAG: (HTTP_REPOSITORY_TAG_ATTRS, HTTP_REPOSITORY_TAG_DOC, nixpkgs_http_repository),
    LOCAL_REPOSITORY_TAG: (LOCAL_REPOSITORY_TAG_ATTRS, LOCAL_REPOSITORY_TAG_DOC, nixpkgs_local_repository),
    PACKAGE_TAG: (PACKAGE_TAG_ATTRS, PACKAGE_TAG_DOC, None),
}

def _package_attrs(request):
    """The repository rule's attributes of a package (or toolchain) tag."""
    attrs = dict(request.attrs)
    repository = attrs.pop("repository")
    repositories = attrs.pop("repositories")

    # Repositories of this extension see each other by name: "@nixpkgs" is the sibling.
    attrs["repositories"] = repositories_by_label(
        "nixstore.{}(name = \"{}\") in {}".format(request.tag, request.name, request.module),
        "@" + repository if repository else None,
        {nix_name: "@" + target for nix_name, target in repositories.items()},
    )
    return attrs

def _cc_configure(request):
    """The two repositories of a cc_configure tag (registered by the module: bzlmod has no register_toolchains here)."""
    attrs = _package_attrs(request)
    toolchains = {k: attrs.pop(k) for k in ["exec_constraints", "target_constraints"]}
    nixpkgs_cc_toolchain(name = request.name, **attrs)
    nixpkgs_cc_toolchains(name = request.name + "_toolchains", cc_repository = request.name, **toolchains)

def _nixstore_impl(module_ctx):
    tag_attrs = {tag: [a for a in spec[0].keys() if a != "name"] for tag, spec in _TAGS.items()}
    packages = []
    for request in parse_modules(module_ctx.modules, tag_attrs, [PACKAGE_TAG, CC_CONFIGURE_TAG]):
        if request.tag == PACKAGE_TAG:
            packages.append((request.name, _package_attrs(request)))
        elif request.tag == CC_CONFIGURE_TAG:
            _cc_configure(request)
        else:
            _TAGS[request.tag][2](name = request.name, **request.attrs)

    # Packages of one nixpkgs share one Nix evaluation (evaluation.bzl).
    declare_package_set(packages)

nixstore = module_extension(
    implementation = _nixstore_impl,
    tag_classes = {tag: tag_class(attrs = spec[0], doc = spec[1]) for tag, spec in _TAGS.items()},
    doc = """Nix packages as repositories that carry their runtime closure, under bzlmod.

    nixstore = use_extension("@rules_nixstore//rules:extensions.bzl", "nixstore")
    nixstore.local_repository(name = "nixpkgs", nix_file = "//nix:nixpkgs.nix")
    nixstore.package(name = "jq", repository = "nixpkgs")
    use_repo(nixstore, "jq")

    nixstore.cc_configure(name = "nixpkgs_cc", repository = "nixpkgs")
    use_repo(nixstore, "nixpkgs_cc_toolchains")
    register_toolchains("@nixpkgs_cc_toolchains//:all")

Root and non-root modules may use it; a name means one repository for the whole build, so
two modules asking for the same name with different attributes get an error naming both.
""",
)
