"""The hash conversion of rules/private/binary_cache.bzl: a lock's `sha256:<Nix base32>` file hash as the hex digits Bazel's downloader checks."""

load("@bazel_skylib//lib:unittest.bzl", "asserts", "unittest")

# buildifier: disable=bzl-visibility (these tests are of the private helpers)
load("@rules_nixstore//rules/private:binary_cache.bzl", "nix32_to_hex")
load(":support.bzl", "suite")

def _agrees_with_nix_impl(ctx):
    env = unittest.begin(ctx)

    # A FileHash that Nix 2.8 wrote in a narinfo, and the sha256sum of that very file.
    asserts.equals(
        env,
        "6d0efbc340319801caef44d83d40c52ed81690ed7d7654e93a988b554982ae5c",
        nix32_to_hex("0p5fh94mb2wq7blm8xkxxn81dn1fqm03vn24xz50361i831zn3kd"),
    )
    asserts.equals(env, "00" * 32, nix32_to_hex("0" * 52))
    return unittest.end(env)

def _refuses_what_is_not_a_hash_impl(ctx):
    env = unittest.begin(ctx)
    asserts.equals(env, None, nix32_to_hex("0" * 51), "too short")
    asserts.equals(env, None, nix32_to_hex("e" * 52), "e is not a digit of Nix's base32")
    asserts.equals(env, None, nix32_to_hex("z" + "0" * 51), "the first digit holds 2 bits only")
    return unittest.end(env)

_agrees_with_nix_test = unittest.make(_agrees_with_nix_impl)
_refuses_what_is_not_a_hash_test = unittest.make(_refuses_what_is_not_a_hash_impl)

def binary_cache_tests(name):
    """The binary cache helpers' tests, and a test_suite `name` of them.

    Args:
      name: the test_suite's name.
    """
    suite(name, {
        name + "_agrees_with_nix": _agrees_with_nix_test,
        name + "_refuses_what_is_not_a_hash": _refuses_what_is_not_a_hash_test,
    })
