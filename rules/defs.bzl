"""Public API of rules_nixstore: Nix packages as Bazel repositories that carry their closure.

    load("@rules_nixstore//rules:defs.bzl", "nixpkgs_local_repository", "nixpkgs_package")
    load("@rules_nixstore//rules:defs.bzl", "nixpkgs_cc_configure")
"""

load(
    "//rules/private:cc_configure.bzl",
    "nixpkgs_cc_toolchain",
    "nixpkgs_cc_toolchains",
)
load(
    "//rules/private:executable.bzl",
    _nixstore_executable = "nixstore_executable",
    _nixstore_executable_alias = "nixstore_executable_alias",
)
load(
    "//rules/private:nixpkgs_repository.bzl",
    _nixpkgs_git_repository = "nixpkgs_git_repository",
    _nixpkgs_http_repository = "nixpkgs_http_repository",
    _nixpkgs_local_repository = "nixpkgs_local_repository",
)
load("//rules/private:package.bzl", "repositories_by_label")
load("//rules/private:package_set.bzl", "declare_package", "declare_package_set")

nixpkgs_local_repository = _nixpkgs_local_repository
nixpkgs_http_repository = _nixpkgs_http_repository
nixpkgs_git_repository = _nixpkgs_git_repository
nixstore_executable = _nixstore_executable
nixstore_executable_alias = _nixstore_executable_alias

def nixpkgs_package(name, repository = None, repositories = {}, **kwargs):
    """A Nix package as a repository: its files, its runtime closure and a launcher per executable.

    Takes the attributes of rules_nixpkgs' `nixpkgs_package` with the same meanings
    (`attribute_path`, `nix_file`, `nix_file_content`, `nix_file_deps`, `repository`,
    `repositories`, `build_file`, `build_file_content`, `nixopts`, `quiet`,
    `fail_not_supported`). The repository `@<name>` exposes the package's files at its
    root, `//:closure` (every file of the runtime closure) and, for each `bin/<exe>`, a
    runnable target `//:bin/<exe>` that carries the closure with it. Separate calls for packages
    of one nixpkgs share one Nix evaluation, as `nixpkgs_packages` does.

    Args:
      name: the repository name.
      repository: a nixpkgs repository label, made available as `<nixpkgs>`
        (shorthand for `repositories = {"nixpkgs": repository}`).
      repositories: dict from a Nix search path name to a repository label; each becomes
        `-I <name>=<repository root>`.
      **kwargs: the other attributes of the repository rule.
    """
    if "remotable" in kwargs or "exec_properties" in kwargs:
        fail("nixpkgs_package(name = \"{}\"): remotable packages are declared by the nixpkgs_package of @rules_nixstore//rules:remotable.bzl; load it from there and build with --experimental_repo_remote_exec.".format(name))
    declare_package(name, dict(
        kwargs,
        repositories = repositories_by_label("nixpkgs_package(name = \"{}\")".format(name), repository, repositories),
    ))

def nixpkgs_packages(packages):
    """Several Nix packages, those of one nixpkgs evaluated together in one Nix process.

    Each entry takes `nixpkgs_package`'s arguments. Packages that select an `attribute_path`
    from the same `repository`/`repositories` (and the same `store`), without a `nix_file`,
    `nix_file_content`, `nix_file_deps` or `nixopts` of their own, share one
    `nixpkgs_evaluation` repository: nixpkgs is evaluated once for all of them (instead of once
    per package), and each package only builds its derivation. Adding, removing or changing one
    package evaluates once. The other packages are declared as `nixpkgs_package` does. The
    module extension (`nixstore.package` tags) groups its packages the same way.

        nixpkgs_packages([
            dict(name = "jq", repository = "@nixpkgs"),
            dict(name = "python3", repository = "@nixpkgs"),
        ])

    Args:
      packages: a list of dicts, each holding the keyword arguments of one `nixpkgs_package`
        call (`name` included).
    """
    declared = []
    for kwargs in packages:
        kwargs = dict(kwargs)
        name = kwargs.pop("name")
        what = "nixpkgs_packages: package \"{}\"".format(name)
        kwargs["repositories"] = repositories_by_label(what, kwargs.pop("repository", None), kwargs.pop("repositories", {}))
        declared.append((name, kwargs))
    declare_package_set(declared)

def nixpkgs_cc_configure(
        name = "local_config_cc",
        repository = None,
        repositories = {},
        exec_constraints = None,
        target_constraints = None,
        register = True,
        **kwargs):
    """A C/C++ toolchain from Nix whose compile, link and archive actions run anywhere Bazel runs them.

    Takes the attributes of rules_nixpkgs' `nixpkgs_cc_configure` with the same meanings
    (`attribute_path`, default `stdenv.cc`; `nix_file`, `nix_file_content`, `nix_file_deps`,
    `repository`, `repositories`, `nixopts`, `quiet`, `fail_not_supported`, `exec_constraints`,
    `target_constraints`, `register`, `cc_lang`, `cc_std`), plus `packed_closure`, `lock` and
    `store`. Makes `@<name>` (the compiler's closure, launchers for its tools, the
    `cc_toolchain`, a `cc_toolchain_suite` for `--crosstool_top`, and `:runtime`) and
    `@<name>_toolchains` (the `toolchain` targets and an alias of `:runtime`).

    The default name, `local_config_cc`, replaces Bazel's autodetected C++ toolchain where Bazel
    selects it by `--crosstool_top` (Bazel 4 to 6 without
    `--incompatible_enable_cc_toolchain_resolution`); with `register`, toolchain resolution
    (Bazel 7 and later) selects it too. Programs it links load the Nix C library from
    `/nix/store`: run tests and `bazel run` with `--run_under=@<name>_toolchains//:runtime`, and
    link tools for the exec platform statically (`--host_linkopt=-static`); `nixgen` writes both.

    Args:
      name: the toolchain repository's name; `<name>_toolchains` holds its toolchain targets.
      repository: a nixpkgs repository label, made available as `<nixpkgs>`
        (shorthand for `repositories = {"nixpkgs": repository}`).
      repositories: dict from a Nix search path name to a repository label.
      exec_constraints: constraints of the exec platform; default: Linux on this machine's CPU.
      target_constraints: constraints of the target platform; default: as `exec_constraints`.
      register: whether to register `@<name>_toolchains//:all`.
      **kwargs: the other attributes of the toolchain repository.
    """
    what = "nixpkgs_cc_configure(name = \"{}\")".format(name)
    nixpkgs_cc_toolchain(
        name = name,
        repositories = repositories_by_label(what, repository, repositories),
        **kwargs
    )
    nixpkgs_cc_toolchains(
        name = name + "_toolchains",
        cc_repository = name,
        exec_constraints = exec_constraints or [],
        target_constraints = target_constraints or [],
    )
    if register:
        native.register_toolchains("@{}_toolchains//:all".format(name))
