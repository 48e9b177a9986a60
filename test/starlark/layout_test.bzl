"""The closure planner of rules/private/layout.bzl: which symlinks of a closure stay inside it, and which escape.

A link resolves as the kernel would if the closure alone were mounted at /nix/store: components
one by one, each symlink followed where it appears (so `..` after a link applies to its
target), at most 40 links. Only a path inside a store path of the closure stays.
"""

load("@bazel_skylib//lib:unittest.bzl", "asserts", "unittest")

# buildifier: disable=bzl-visibility (these tests are of the private helpers)
load("@rules_nixstore//rules/private:layout.bzl", "escaping_report", "plan_closure", "unnamable_report")
load(":support.bzl", "suite")

_A = "/nix/store/aaaa-a"
_B = "/nix/store/bbbb-b"
_OUTSIDE = "/nix/store/cccc-c"  # in the store, not in the closure
_CLOSURE = [_A, _B]

def _plan(links, unnamable = []):
    return plan_closure(struct(links = links, unnamable = unnamable), _CLOSURE)

def _escapes(env, links, link, why):
    """Asserts that `link` of `links` escapes, for `why`, and is not kept."""
    plan = _plan(links)
    asserts.equals(env, [(link, links[link], why)], [e for e in plan.escaping if e[0] == link])
    asserts.false(env, link in plan.links, "{} is kept".format(link))

def _resolves(env, links, link, path):
    plan = _plan(links)
    asserts.equals(env, path, plan.links.get(link), "{} -> {}".format(link, links[link]))
    asserts.equals(env, [], [e for e in plan.escaping if e[0] == link])

def _relative_inside_impl(ctx):
    env = unittest.begin(ctx)
    _resolves(env, {_A + "/bin/tool": "../libexec/tool"}, _A + "/bin/tool", _A + "/libexec/tool")
    _resolves(env, {_A + "/bin/self": "."}, _A + "/bin/self", _A + "/bin")
    return unittest.end(env)

def _absolute_into_closure_impl(ctx):
    env = unittest.begin(ctx)
    _resolves(env, {_A + "/share/greet": _B + "/share/greet"}, _A + "/share/greet", _B + "/share/greet")
    return unittest.end(env)

def _relative_into_other_store_path_impl(ctx):
    env = unittest.begin(ctx)
    _resolves(env, {_A + "/lib/libb.so": "../../bbbb-b/lib/libb.so"}, _A + "/lib/libb.so", _B + "/lib/libb.so")
    return unittest.end(env)

def _kept_as_is_impl(ctx):
    env = unittest.begin(ctx)
    links = {
        _A + "/bin/sh": "busybox",
        _A + "/lib/libb.so": "../../bbbb-b/lib/libb.so",
        _A + "/abs": _B + "/f",
        _A + "/via-abs": "abs",
        _A + "/d": _B + "/sub",
        _A + "/through-abs": "d/file",
        _A + "/out": "/etc/x",
    }
    plan = _plan(links)

    # Relative all the way: the store resolves them as the planner does, so they stay links of
    # the store path.
    asserts.equals(env, {_A + "/bin/sh": True, _A + "/lib/libb.so": True}, plan.relative)

    # Through an absolute link (its own target, or one met on the way): recreated in the
    # repository, pointing inside it.
    for link in [_A + "/abs", _A + "/via-abs", _A + "/through-abs"]:
        asserts.true(env, link in plan.links and link not in plan.relative, link)
    asserts.false(env, _A + "/out" in plan.relative)

    # A relative link to a directory that holds a left-out or recreated entry, at any depth, or
    # a link to such a link, is recreated too: Bazel would find the original under it.
    links = {
        _A + "/share/dir/abs": "/etc/passwd",
        _A + "/share/dir-link": "dir",
        _A + "/share/up": "..",
        _A + "/via-dir-link": "share/dir-link",
        _A + "/lib/in": _B + "/f",
        _A + "/lib-link": "lib",
        _A + "/clean": "bin",
        _A + "/bin/x": "y",
    }
    plan = _plan(links, unnamable = [_B + "/odd:name"])
    asserts.equals(env, {_A + "/clean": True, _A + "/bin/x": True}, plan.relative)
    plan = _plan({_A + "/to-b": "../bbbb-b", _A + "/to-b-sub": "../bbbb-b/sub"}, unnamable = [_B + "/odd:name"])
    asserts.equals(env, {_A + "/to-b-sub": True}, plan.relative)
    return unittest.end(env)

def _host_file_escapes_impl(ctx):
    env = unittest.begin(ctx)
    _escapes(env, {_A + "/etc/passwd": "/etc/passwd"}, _A + "/etc/passwd", "resolves to /etc/passwd, outside /nix/store")
    return unittest.end(env)

def _climbing_out_escapes_impl(ctx):
    env = unittest.begin(ctx)

    # `..` at the root stays at the root, as the kernel's does.
    _escapes(env, {_A + "/x": "../../../../../../etc/x"}, _A + "/x", "resolves to /etc/x, outside /nix/store")
    return unittest.end(env)

def _store_path_outside_closure_escapes_impl(ctx):
    env = unittest.begin(ctx)
    why = "resolves into /nix/store/cccc-c, a store path outside the closure"
    _escapes(env, {_A + "/y": "../cccc-c/y"}, _A + "/y", why)
    _escapes(env, {_A + "/z": _OUTSIDE + "/z"}, _A + "/z", why)

    # No lexical shortcut: a path through a store path outside the closure does not exist
    # there, even when `..` would come back into it.
    _escapes(env, {_A + "/w": _OUTSIDE + "/../aaaa-a/bin"}, _A + "/w", why)
    return unittest.end(env)

def _store_itself_escapes_impl(ctx):
    env = unittest.begin(ctx)
    _escapes(env, {_A + "/store": "/nix/store"}, _A + "/store", "resolves to /nix/store, outside the closure's store paths")
    _escapes(env, {_A + "/root": "/"}, _A + "/root", "resolves to /, outside the closure's store paths")
    return unittest.end(env)

def _chain_impl(ctx):
    env = unittest.begin(ctx)
    links = {
        _A + "/l1": "l2",
        _A + "/l2": _B + "/f",
        _A + "/out1": "out2",
        _A + "/out2": "/etc",
    }
    _resolves(env, links, _A + "/l1", _B + "/f")
    _resolves(env, links, _A + "/l2", _B + "/f")

    # A link to a link that escapes escapes too, named with its own target.
    _escapes(env, links, _A + "/out1", "resolves to /etc, outside /nix/store")
    return unittest.end(env)

def _dotdot_after_link_impl(ctx):
    env = unittest.begin(ctx)
    links = {
        _A + "/d": _B + "/sub/dir",
        _A + "/via": "d/../file",
        _A + "/e": "/etc",
        _A + "/through": "e/passwd",
    }

    # The kernel follows d before `..`: the parent of its target, not of the link.
    _resolves(env, links, _A + "/via", _B + "/sub/file")

    # A directory link met inside another link's target is followed as well.
    _escapes(env, links, _A + "/through", "resolves to /etc/passwd, outside /nix/store")
    return unittest.end(env)

def _loop_impl(ctx):
    env = unittest.begin(ctx)
    _escapes(env, {_A + "/p": "q", _A + "/q": "p"}, _A + "/p", "is a symlink loop")
    _escapes(env, {_A + "/self": "self/x"}, _A + "/self", "is a symlink loop")
    return unittest.end(env)

def _chain(n):
    """n links, c0 -> c1 -> ... -> c<n-1> -> a file of the closure."""
    links = {_A + "/c{}".format(i): "c{}".format(i + 1) for i in range(n - 1)}
    links[_A + "/c{}".format(n - 1)] = _B + "/end"
    return links

def _link_limit_impl(ctx):
    env = unittest.begin(ctx)

    # As the kernel resolves a path (ELOOP): c0's target may pass through 40 more links
    # (c1 ... c40), not 41.
    _resolves(env, _chain(41), _A + "/c0", _B + "/end")
    _escapes(env, _chain(42), _A + "/c0", "is a symlink loop")
    return unittest.end(env)

def _store_path_as_link_impl(ctx):
    env = unittest.begin(ctx)

    # A store path that is itself a symlink (a Nix output can be one).
    _resolves(env, {_A: "bbbb-b"}, _A, _B)
    _escapes(env, {_A: "/usr"}, _A, "resolves to /usr, outside /nix/store")
    return unittest.end(env)

def _sorted_and_reported_impl(ctx):
    env = unittest.begin(ctx)
    plan = _plan(
        {_B + "/z": "/etc/z", _A + "/y": "/etc/y", _A + "/ok": "bin"},
        unnamable = [_B + "/a:b", _A + "/a\\b"],
    )
    asserts.equals(env, [_A + "/y", _B + "/z"], [e[0] for e in plan.escaping])
    asserts.equals(env, [_A + "/a\\b", _B + "/a:b"], plan.unnamable)
    asserts.equals(env, {_A + "/ok": _A + "/bin"}, plan.links)
    asserts.equals(
        env,
        "  {}/y -> /etc/y (resolves to /etc/y, outside /nix/store)\n  {}/z -> /etc/z (resolves to /etc/z, outside /nix/store)".format(_A, _B),
        escaping_report(plan),
    )
    asserts.equals(env, "  {}\n  {}".format(repr(_A + "/a\\b"), repr(_B + "/a:b")), unnamable_report(plan))
    asserts.equals(env, "", escaping_report(_plan({})))
    return unittest.end(env)

def _report_cannot_forge_lines_impl(ctx):
    env = unittest.begin(ctx)

    # A link's name and target come from the package: control characters in them are shown
    # escaped, so the warning has one line per link.
    link = _A + "/evil\nWARNING: all good"
    plan = _plan({link: "/etc/x\rok"})
    report = escaping_report(plan)
    asserts.equals(env, 1, len(report.split("\n")), report)
    asserts.false(env, "\r" in report, report)
    asserts.true(env, repr(link) in report, report)
    return unittest.end(env)

def _many_reported_impl(ctx):
    env = unittest.begin(ctx)
    plan = _plan({_A + "/l{}".format(i): "/etc/{}".format(i) for i in range(25)})
    lines = escaping_report(plan).split("\n")
    asserts.equals(env, 21, len(lines))
    asserts.equals(env, "  ... and 5 more", lines[-1])
    return unittest.end(env)

_relative_inside_test = unittest.make(_relative_inside_impl)
_absolute_into_closure_test = unittest.make(_absolute_into_closure_impl)
_relative_into_other_store_path_test = unittest.make(_relative_into_other_store_path_impl)
_kept_as_is_test = unittest.make(_kept_as_is_impl)
_host_file_escapes_test = unittest.make(_host_file_escapes_impl)
_climbing_out_escapes_test = unittest.make(_climbing_out_escapes_impl)
_store_path_outside_closure_escapes_test = unittest.make(_store_path_outside_closure_escapes_impl)
_store_itself_escapes_test = unittest.make(_store_itself_escapes_impl)
_chain_test = unittest.make(_chain_impl)
_dotdot_after_link_test = unittest.make(_dotdot_after_link_impl)
_loop_test = unittest.make(_loop_impl)
_link_limit_test = unittest.make(_link_limit_impl)
_store_path_as_link_test = unittest.make(_store_path_as_link_impl)
_sorted_and_reported_test = unittest.make(_sorted_and_reported_impl)
_report_cannot_forge_lines_test = unittest.make(_report_cannot_forge_lines_impl)
_many_reported_test = unittest.make(_many_reported_impl)

_TESTS = {
    "layout_absolute_link_into_the_closure_resolves_there": _absolute_into_closure_test,
    "layout_a_chain_of_links_resolves_to_its_end_and_escapes_where_it_does": _chain_test,
    "layout_climbing_out_of_the_store_escapes": _climbing_out_escapes_test,
    "layout_dotdot_after_a_link_applies_to_its_target": _dotdot_after_link_test,
    "layout_link_to_a_host_file_escapes": _host_file_escapes_test,
    "layout_links_relative_all_the_way_are_kept_as_they_are": _kept_as_is_test,
    "layout_link_to_the_store_itself_escapes": _store_itself_escapes_test,
    "layout_link_to_a_store_path_outside_the_closure_escapes": _store_path_outside_closure_escapes_test,
    "layout_a_target_passes_through_40_links_at_most_like_the_kernel": _link_limit_test,
    "layout_loops_escape": _loop_test,
    "layout_relative_link_inside_a_store_path_resolves_there": _relative_inside_test,
    "layout_relative_link_to_another_store_path_of_the_closure_resolves_there": _relative_into_other_store_path_test,
    "layout_reports_are_sorted_and_name_each_link": _sorted_and_reported_test,
    "layout_report_of_many_links_counts_those_left_out": _many_reported_test,
    "layout_report_shows_control_characters_escaped": _report_cannot_forge_lines_test,
    "layout_store_path_that_is_a_link_resolves": _store_path_as_link_test,
}

def layout_tests(name):
    """The closure planner's tests, and a test_suite `name` of them.

    Args:
      name: the test_suite's name.
    """
    suite(name, _TESTS)
