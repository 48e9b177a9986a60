"""bzlmod entry point of rules_nixstore (Bazel 7 and later).

    nixstore = use_extension("@rules_nixstore//rules:extensions.bzl", "nixstore")
    nixstore.local_repository(name = "nixpkgs", nix_file = "//nix:nixpkgs.nix")
    nixstore.package(name = "jq", repository = "nixpkgs")
    use_repo(nixstore, "jq")

WORKSPACE builds load rules/defs.bzl and rules/repositories.bzl instead; this file calls
`module_extension`, which Bazel 4 does not have.
"""

load("//rules/private:extension.bzl", _nixstore = "nixstore")

nixstore = _nixstore
