"""The machine cache of rules/private/machine_cache.bzl, where it runs: its location rule and what it repairs.

nixgen has a TypeScript twin of the location rule (generator/gc, test/unit/machine-cache.test.ts);
these are the same cases for the rules' own code, through a fake repository_ctx that holds only
what `machine_cache` reads. Where the twins differ on purpose, the rule turns the cache off (no
HOME) where nixgen, asked to collect it, says it cannot find it.
"""

load("@bazel_skylib//lib:unittest.bzl", "asserts", "unittest")

# buildifier: disable=bzl-visibility (these tests are of the private helpers)
load("@rules_nixstore//rules/private:machine_cache.bzl", "machine_cache", "machine_cache_testing")
load(":support.bzl", "suite")

_NIX_OPTIONS = ["--option", "build-users-group", ""]

def _path(p):
    return p

def _fake_ctx(environ, evaluation = False):
    """What machine_cache reads of a repository_ctx: the environment, path() and, for messages, the name and attributes."""
    return struct(
        attr = struct(packages = {}) if evaluation else struct(),
        name = "jq",
        os = struct(environ = environ),
        path = _path,
    )

def _root(environ):
    cache = machine_cache(_fake_ctx(environ))
    return cache.root if cache else None

def _variable_first_impl(ctx):
    env = unittest.begin(ctx)
    cache = machine_cache(_fake_ctx({"RULES_NIXSTORE_MACHINE_CACHE": "/srv/cache/", "XDG_CACHE_HOME": "/x", "HOME": "/h"}))
    asserts.equals(env, "/srv/cache", cache.root, "without the trailing slash")
    asserts.equals(env, ["--store", "/srv/cache"] + _NIX_OPTIONS, cache.args)
    asserts.true(env, str(cache.import_script).endswith("machine_cache_import.sh"), str(cache.import_script))
    return unittest.end(env)

def _off_impl(ctx):
    env = unittest.begin(ctx)
    asserts.equals(env, None, machine_cache(_fake_ctx({"RULES_NIXSTORE_MACHINE_CACHE": "off", "HOME": "/h"})))
    return unittest.end(env)

def _fallbacks_impl(ctx):
    env = unittest.begin(ctx)
    asserts.equals(env, "/x/rules_nixstore/store", _root({"XDG_CACHE_HOME": "/x", "HOME": "/h"}))
    asserts.equals(env, "/h/.cache/rules_nixstore/store", _root({"XDG_CACHE_HOME": "relative", "HOME": "/h"}), "a relative XDG_CACHE_HOME is ignored")
    asserts.equals(env, "/h/.cache/rules_nixstore/store", _root({"HOME": "/h"}))
    asserts.equals(env, "/h/.cache/rules_nixstore/store", _root({"RULES_NIXSTORE_MACHINE_CACHE": "", "HOME": "/h"}), "empty is unset")

    # Nowhere to put it: off, not a cache in the current directory.
    asserts.equals(env, None, _root({}))
    asserts.equals(env, None, _root({"HOME": "relative"}))
    return unittest.end(env)

def _nix_options_impl(ctx):
    env = unittest.begin(ctx)
    nix_options = machine_cache_testing.nix_options

    # The settings of a package's nixopts reach the repair (nix-store takes them); the rest do not.
    asserts.equals(env, [], nix_options([]))
    asserts.equals(
        env,
        ["--option", "sandbox", "false", "--option", "cores", "2"],
        nix_options(["--option", "sandbox", "false", "--arg", "x", "1", "-j", "4", "--option", "cores", "2"]),
    )
    asserts.equals(env, [], nix_options(["--arg", "x", "--option"]), "an incomplete setting at the end")
    return unittest.end(env)

def _modified_impl(ctx):
    env = unittest.begin(ctx)
    modified = machine_cache_testing.modified
    stderr = "\n".join([
        "checking path '/nix/store/aaaa-a'...",
        "path '/nix/store/aaaa-a' was modified! expected hash 'sha256:0a', got 'sha256:0b'",
        "error: path '/nix/store/bbbb-b' was modified! expected hash 'sha256:1a', got 'sha256:1b'",
        "warning: something else about '/nix/store/cccc-c'",
    ])

    # Only the paths Nix calls modified are repaired.
    asserts.equals(env, ["/nix/store/aaaa-a", "/nix/store/bbbb-b"], modified(stderr))
    asserts.equals(env, [], modified(""))
    return unittest.end(env)

def _calls_impl(ctx):
    if ctx.attr.case == "relative":
        machine_cache(_fake_ctx({"RULES_NIXSTORE_MACHINE_CACHE": "cache", "HOME": "/h"}))
    elif ctx.attr.case == "relative_evaluation":
        machine_cache(_fake_ctx({"RULES_NIXSTORE_MACHINE_CACHE": "./cache"}, evaluation = True))
    else:
        fail("no case " + ctx.attr.case)
    return []

_calls = rule(implementation = _calls_impl, attrs = {"case": attr.string(mandatory = True)})

_variable_first_test = unittest.make(_variable_first_impl)
_off_test = unittest.make(_off_impl)
_fallbacks_test = unittest.make(_fallbacks_impl)
_nix_options_test = unittest.make(_nix_options_impl)
_modified_test = unittest.make(_modified_impl)

_TESTS = {
    "machine_cache_falls_back_to_xdg_cache_home_then_home_then_off": _fallbacks_test,
    "machine_cache_is_off_with_off": _off_test,
    "machine_cache_repairs_only_what_nix_calls_modified": _modified_test,
    "machine_cache_repairs_with_the_packages_nix_settings_only": _nix_options_test,
    "machine_cache_takes_its_variable_first": _variable_first_test,
}

_FAILING = {
    "machine_cache_refuses_a_relative_directory_naming_the_package": (
        "relative",
        "nixpkgs_package(name = \"jq\"): RULES_NIXSTORE_MACHINE_CACHE=cache is not an absolute path; give the machine cache's directory as one (or \"off\").",
    ),
    "machine_cache_refuses_a_relative_directory_naming_the_evaluation": (
        "relative_evaluation",
        "nixpkgs_evaluation(name = \"jq\"): RULES_NIXSTORE_MACHINE_CACHE=./cache is not an absolute path",
    ),
}

def machine_cache_tests(name):
    """The machine cache's tests, and a test_suite `name` of them.

    Args:
      name: the test_suite's name.
    """
    suite(name, _TESTS, _FAILING, _calls)
