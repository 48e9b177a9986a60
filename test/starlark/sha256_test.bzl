"""SHA-256 in Starlark (rules/private/sha256.bzl): the digests `sha256sum` prints, and Nix's base32.

The inputs digest of every package (and so each lock file) is this function's output on Bazel
4.2.3: a wrong digest would make no lock match across Bazels. Vectors are FIPS 180-2's and
`sha256sum`'s.
"""

load("@bazel_skylib//lib:unittest.bzl", "asserts", "unittest")

# buildifier: disable=bzl-visibility (these tests are of the private helpers)
load("@rules_nixstore//rules/private:sha256.bzl", "nix_base32", "sha256_hex")
load(":support.bzl", "suite")

def _vectors_impl(ctx):
    env = unittest.begin(ctx)
    asserts.equals(env, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", sha256_hex(""))
    asserts.equals(env, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", sha256_hex("abc"))

    # 56 bytes: the padding needs a second block.
    asserts.equals(env, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))

    # 1,000 bytes: 16 blocks.
    asserts.equals(env, "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3", sha256_hex("a" * 1000))

    # Bytes above 127 and NUL, as Bazel's strings hold file contents.
    asserts.equals(env, "ef192b7af54e943f206ab27075ec1805384c972c9959fc5820f1fa7d5268fcef", sha256_hex("\377\000\200"))
    return unittest.end(env)

def _base32_impl(ctx):
    env = unittest.begin(ctx)
    asserts.equals(env, "1vzwd197vypi41cgqncr5jblqf0533n7aw5jd8h3z52fymx2n6gg", nix_base32("ef192b7af54e943f206ab27075ec1805384c972c9959fc5820f1fa7d5268fcef"))
    return unittest.end(env)

_vectors_test = unittest.make(_vectors_impl)
_base32_test = unittest.make(_base32_impl)

_TESTS = {
    "sha256_digests_are_sha256sums": _vectors_test,
    "sha256_nix_base32_is_nixs": _base32_test,
}

def sha256_tests(name):
    """The SHA-256 tests, and a test_suite `name` of them.

    Args:
      name: the test_suite's name.
    """
    suite(name, _TESTS)
