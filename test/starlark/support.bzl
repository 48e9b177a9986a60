"""What the Starlark unit tests share: a test of a call that must fail, and the suite macro."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")

def _fails_test_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, ctx.attr.message)
    return analysistest.end(env)

# Passes when analysing `target_under_test` fails with `message` in its error.
fails_test = analysistest.make(
    _fails_test_impl,
    expect_failure = True,
    attrs = {"message": attr.string(mandatory = True)},
)

def suite(name, tests, failing = {}, calls = None):
    """Declares each test as a target of the name given, and a test_suite `name` of them all.

    Args:
      name: the test_suite's name.
      tests: {target name: test rule made with unittest.make}.
      failing: {target name: (case, message)}: `calls(case = case)` must fail with `message`.
      calls: a rule with a string attribute `case` whose implementation runs that case.
    """
    for test_name, test_rule in tests.items():
        test_rule(name = test_name, size = "small")
    for test_name, (case, message) in failing.items():
        # The failing target is analysed only through the test (its configuration allows
        # analysis failures): `bazel build //...` skips it.
        calls(name = test_name + "_call", case = case, tags = ["manual"])
        fails_test(name = test_name, target_under_test = ":" + test_name + "_call", message = message, size = "small")
    native.test_suite(name = name, tests = [":" + t for t in list(tests.keys()) + list(failing.keys())])
