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
load("//rules/private:attrs.bzl", "PACKAGE_ATTRS", "PACKAGE_TAG_ATTRS")
load("//rules/private:module_requests.bzl", "parse_modules")

# Package tag attributes that a remotable package does not take, or takes in another form.
_LEFT_OUT = ["evaluation", "lock", "repositories", "repository", "store", "fail_not_supported"]

_TAG_ATTRS = dict(
    {k: v for k, v in PACKAGE_TAG_ATTRS.items() if k not in _LEFT_OUT},
    exec_properties = attr.string_dict(
        doc = "The platform of the remote build, selecting the executor's Nix pool, e.g. `{\"pool\": \"nix\"}`. An empty dict sends no platform.",
    ),
    max_closure_mib = PACKAGE_ATTRS["max_closure_mib"],
    remote_closure = PACKAGE_ATTRS["remote_closure"],
    remote_path = PACKAGE_ATTRS["remote_path"],
    repositories = attr.label_keyed_string_dict(
        doc = "Nix search path entries: each label (a repository of the `nixstore` extension, e.g. `@nixpkgs`, in scope through `use_repo`) maps to the name under which Nix code finds it. Mutually exclusive with `repository`.",
    ),
    repository = attr.label(
        doc = "Shorthand for `repositories = {repository: \"nixpkgs\"}`: a `nixstore.local_repository` in scope through `use_repo`, e.g. `@nixpkgs`.",
    ),
)

def _nixstore_remotable_impl(module_ctx):
    attr_names = [a for a in _TAG_ATTRS.keys() if a != "name"]
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
        attrs = _TAG_ATTRS,
        doc = "A remotable Nix package as the repository `@<name>`: `nixpkgs_package`'s attributes, built with Nix on the remote executor that `exec_properties` select; bring it into scope with `use_repo(nixstore_remotable, \"<name>\")`.",
    )},
    doc = "Remotable Nix packages under bzlmod: the Nix build runs on a remote executor (needs `--experimental_repo_remote_exec`).",
)
