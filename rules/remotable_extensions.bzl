"""bzlmod entry point of remotable Nix packages (Bazel 7 and later): the Nix build runs remotely.

    nixstore = use_extension("@rules_nixstore//rules:extensions.bzl", "nixstore")
    nixstore.local_repository(name = "nixpkgs", nix_file = "//nix:nixpkgs.nix")
    use_repo(nixstore, "nixpkgs")

    nixstore_remotable = use_extension(
        "@rules_nixstore//rules:remotable_extensions.bzl",
        "nixstore_remotable",
    )
    nixstore_remotable.package(
        name = "hello",
        repository = "@nixpkgs",
        exec_properties = {"pool": "nix"},
    )
    use_repo(nixstore_remotable, "hello")

A separate extension, because loading it needs `--experimental_repo_remote_exec` (Bazel refuses
remotable rules without it): builds that use no remotable package never load this file. The
packages' nixpkgs repositories come from the `nixstore` extension, named by label. See
`@rules_nixstore//rules:remotable.bzl` for what a remotable package is.
"""

load("//rules:remotable.bzl", "nixpkgs_package")
load("//rules/private:attrs.bzl", "REMOTABLE_PACKAGE_TAG_ATTRS", "REMOTABLE_PACKAGE_TAG_DOC")
load("//rules/private:module_requests.bzl", "parse_modules")

# REMOTABLE_PACKAGE_TAG_ATTRS (generator/model/api.ts): a package's attributes, but those a
# remotable package does not take, with its repositories named by label and exec_properties.
def _nixstore_remotable_impl(module_ctx):
    attr_names = [a for a in REMOTABLE_PACKAGE_TAG_ATTRS.keys() if a != "name"]
    for request in parse_modules(module_ctx.modules, {"package": attr_names}, []):
        attrs = dict(request.attrs)
        repository = attrs.pop("repository")
        repositories = {name: label for label, name in attrs.pop("repositories").items()}
        if repository and repositories:
            fail("nixstore_remotable.package(name = \"{}\") in {}: set repository or repositories, not both.".format(request.name, request.module))
        nixpkgs_package(
            name = request.name,
            repositories = {"nixpkgs": repository} if repository else repositories,
            remotable = True,
            **attrs
        )

nixstore_remotable = module_extension(
    implementation = _nixstore_remotable_impl,
    tag_classes = {"package": tag_class(
        attrs = REMOTABLE_PACKAGE_TAG_ATTRS,
        doc = REMOTABLE_PACKAGE_TAG_DOC,
    )},
    doc = "Remotable Nix packages under bzlmod: the Nix build runs on a remote executor (needs `--experimental_repo_remote_exec`).",
)
