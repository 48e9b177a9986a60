"""Remotable Nix packages: the Nix build runs on a remote executor, not on the client.

    load("@rules_nixstore//rules:remotable.bzl", "nixpkgs_package")

    nixpkgs_package(
        name = "hello",
        repository = "@nixpkgs",
        remotable = True,
        exec_properties = {"pool": "nix"},
    )

Loading this file needs `--experimental_repo_remote_exec` (Bazel refuses `remotable` rules
without it). With the flag and `--remote_executor`, the package's evaluation and build run on
the executor that `exec_properties` select (a worker with Nix; its store may be shared by its
runners), which sends the runtime closure back; the client runs no Nix command for the package
and lays the closure out exactly as a local package: `@<name>//:bin/<exe>`, `@<name>//:closure`
and the package's files. The executor caches the build: another client with the same inputs
gets the closure without a build. Without `--remote_executor`, Bazel runs the same command on
the client, which then needs Nix and builds into its own (system) store.

The Nix files reach the executor as inputs: a `nixpkgs_local_repository` (every file of it),
`nix_file` and `nix_file_deps`. A change to any of them changes the remote command and builds
again.
"""

load(
    "//rules/private:package.bzl",
    "nixpkgs_package_rule",
    "repositories_by_label",
)
load(
    "//rules/private:remote_build.bzl",
    "REMOTE_BUILD_SUFFIX",
    "nixpkgs_remote_build",
)
load(":defs.bzl", _local_package = "nixpkgs_package")

# Attributes of the build (the remote repository); the others shape the package repository.
_BUILD_ATTRS = [
    "attribute_path",
    "max_closure_mib",
    "nix_file",
    "nix_file_content",
    "nix_file_deps",
    "nixopts",
    "quiet",
    "remote_closure",
    "remote_path",
    "repositories",
]

def nixpkgs_package(name, repository = None, repositories = {}, remotable = False, exec_properties = {}, **kwargs):
    """A Nix package as a repository, built by Nix on a remote executor when `remotable` is set.

    Takes `nixpkgs_package`'s arguments (`@rules_nixstore//rules:defs.bzl`). With
    `remotable = False` it is that macro. With `remotable = True`, it declares two repositories:
    `@<name>__nixstore_remote_build`, a remotable repository rule whose one command builds the
    package with Nix where Bazel runs remotable rules and sends the closure back as text, and
    `@<name>`, which lays that closure out as a local package would be. `store`, `lock` and
    `fail_not_supported` do not apply to a remotable package: the executor's store builds it.

    Args:
      name: the repository name.
      repository: a nixpkgs repository label (shorthand for `repositories = {"nixpkgs": repository}`);
        a `nixpkgs_local_repository` (its files are uploaded to the executor).
      repositories: dict from a Nix search path name to a repository label.
      remotable: whether the package's Nix build runs where Bazel runs remotable repository
        rules (with `--experimental_repo_remote_exec` and `--remote_executor`: on the remote
        executor).
      exec_properties: the platform of the remote build, selecting the executor's Nix pool,
        e.g. `{"pool": "nix"}`. An empty dict sends no platform.
      **kwargs: the other attributes of `nixpkgs_package`, and `remote_path` and
        `max_closure_mib` for the remote build.
    """
    if not remotable:
        if exec_properties:
            fail("nixpkgs_package(name = \"{}\"): exec_properties applies only with remotable = True.".format(name))
        _local_package(name = name, repository = repository, repositories = repositories, **kwargs)
        return
    for unused in ["store", "lock", "evaluation", "remote_build"]:
        if unused in kwargs:
            fail("nixpkgs_package(name = \"{}\", remotable = True): {} does not apply to a remotable package; remove it.".format(name, unused))
    what = "nixpkgs_package(name = \"{}\")".format(name)
    build = {k: kwargs.pop(k) for k in _BUILD_ATTRS if k in kwargs}
    build["repositories"] = repositories_by_label(what, repository, repositories)
    nixpkgs_remote_build(
        name = name + REMOTE_BUILD_SUFFIX,
        exec_properties = exec_properties,
        **build
    )
    nixpkgs_package_rule(
        name = name,
        remote_build = name + REMOTE_BUILD_SUFFIX,
        **kwargs
    )
