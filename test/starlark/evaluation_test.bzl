"""The evaluation grouping of rules/private/evaluation.bzl: which packages share one nix-instantiate.

Packages share an evaluation only when nothing of theirs changes what Nix evaluates: the same
`repositories`, `store` and `nixopts`, no expression of their own, and `nixopts` that are Nix
settings. The shared repository's name depends on what the group evaluates, not on its packages,
so adding a package does not rename (and refetch) it.
"""

load("@bazel_skylib//lib:unittest.bzl", "asserts", "unittest")

# buildifier: disable=bzl-visibility (these tests are of the private helpers)
load("@rules_nixstore//rules/private:evaluation.bzl", "plan_evaluations", "settings_only")
load(":support.bzl", "suite")

_NIXPKGS = {"@nixpkgs//:default.nix": "nixpkgs"}

def _pkg(**attrs):
    attrs.setdefault("repositories", _NIXPKGS)
    return attrs

def _settings_only_impl(ctx):
    env = unittest.begin(ctx)
    asserts.true(env, settings_only([]))
    asserts.true(env, settings_only(["--option", "sandbox", "false"]))
    asserts.true(env, settings_only(["--option", "sandbox", "false", "--option", "cores", "2"]))
    asserts.false(env, settings_only(["--option", "sandbox"]), "an incomplete setting")
    asserts.false(env, settings_only(["--arg", "x", "1"]), "an argument of the expression")
    asserts.false(env, settings_only(["--option", "a", "b", "-j", "1", "x"]), "a build option")
    asserts.false(env, settings_only(["-j", "--option", "a"]))
    return unittest.end(env)

def _one_group_impl(ctx):
    env = unittest.begin(ctx)
    plan = plan_evaluations([
        ("jq", _pkg()),
        ("python", _pkg(attribute_path = "python3")),
    ])
    asserts.equals(env, 1, len(plan.evaluations))
    group = plan.evaluations[0]

    # The attribute path defaults to the package's name.
    asserts.equals(env, {"jq": "jq", "python": "python3"}, group.packages)
    asserts.equals(env, _NIXPKGS, group.repositories)
    asserts.equals(env, "output-base", group.store)
    asserts.equals(env, [], group.nixopts)
    asserts.equals(env, {"jq": group.name, "python": group.name}, plan.labels)
    asserts.true(env, group.name.startswith("nixstore_evaluation_nixpkgs_"), group.name)
    return unittest.end(env)

def _own_expression_impl(ctx):
    env = unittest.begin(ctx)
    plan = plan_evaluations([
        ("a", _pkg(nix_file = "//:a.nix")),
        ("b", _pkg(nix_file_content = "{ }")),
        ("c", _pkg(nix_file_deps = ["//:c.nix"])),
        ("d", _pkg(nixopts = ["--arg", "x", "1"])),
        ("e", _pkg(nixopts = ["--option", "x"])),
        ("f", _pkg()),
    ])

    # Each of a-e evaluates on its own: only f is planned.
    asserts.equals(env, ["f"], plan.labels.keys())
    asserts.equals(env, {"f": "f"}, plan.evaluations[0].packages)
    return unittest.end(env)

def _what_is_evaluated_splits_impl(ctx):
    env = unittest.begin(ctx)
    other = {"@nixpkgs//:default.nix": "nixpkgs", "@overlay//:default.nix": "overlay"}
    plan = plan_evaluations([
        ("base", _pkg()),
        ("system", _pkg(store = "system")),
        ("sandboxed", _pkg(nixopts = ["--option", "sandbox", "true"])),
        ("overlaid", _pkg(repositories = other)),
        ("base2", _pkg(store = "output-base")),
    ])
    asserts.equals(env, 4, len(plan.evaluations))
    asserts.equals(env, plan.labels["base"], plan.labels["base2"], "the default store is output-base")
    names = [plan.labels[p] for p in ["base", "system", "sandboxed", "overlaid"]]
    asserts.equals(env, 4, len({n: True for n in names}), "one repository name per group: {}".format(names))

    # The name says which search path entries it evaluates.
    asserts.true(env, plan.labels["overlaid"].startswith("nixstore_evaluation_nixpkgs_overlay_"), plan.labels["overlaid"])
    return unittest.end(env)

def _name_stable_impl(ctx):
    env = unittest.begin(ctx)
    one = plan_evaluations([("jq", _pkg())]).labels["jq"]
    more = plan_evaluations([("hello", _pkg()), ("jq", _pkg()), ("zlib", _pkg())]).labels["jq"]
    asserts.equals(env, one, more, "adding packages renames the shared evaluation")

    # The order of `repositories` is not part of what is evaluated.
    ab = {"@a//:default.nix": "a", "@b//:default.nix": "b"}
    ba = {"@b//:default.nix": "b", "@a//:default.nix": "a"}
    asserts.equals(env, plan_evaluations([("x", _pkg(repositories = ab))]).labels["x"], plan_evaluations([("x", _pkg(repositories = ba))]).labels["x"])
    return unittest.end(env)

def _nothing_shared_impl(ctx):
    env = unittest.begin(ctx)
    plan = plan_evaluations([])
    asserts.equals(env, [], plan.evaluations)
    asserts.equals(env, {}, plan.labels)
    return unittest.end(env)

_settings_only_test = unittest.make(_settings_only_impl)
_one_group_test = unittest.make(_one_group_impl)
_own_expression_test = unittest.make(_own_expression_impl)
_what_is_evaluated_splits_test = unittest.make(_what_is_evaluated_splits_impl)
_name_stable_test = unittest.make(_name_stable_impl)
_nothing_shared_test = unittest.make(_nothing_shared_impl)

_TESTS = {
    "evaluation_a_package_with_its_own_expression_or_arguments_evaluates_alone": _own_expression_test,
    "evaluation_no_packages_no_evaluations": _nothing_shared_test,
    "evaluation_only_option_triples_are_settings": _settings_only_test,
    "evaluation_packages_of_one_nixpkgs_share_one_evaluation": _one_group_test,
    "evaluation_store_nixopts_and_repositories_split_groups": _what_is_evaluated_splits_test,
    "evaluation_the_shared_name_does_not_depend_on_its_packages": _name_stable_test,
}

def evaluation_tests(name):
    """The evaluation grouping's tests, and a test_suite `name` of them.

    Args:
      name: the test_suite's name.
    """
    suite(name, _TESTS)
