"""The launcher data of rules/private/launch_data.bzl: one `key=value` a line, which no value can break.

`enter` (nixstore_enter.c) reads the file line by line: a value holding a newline could add a
line (another program, another closure). The program path is written with every byte outside a
plain alphabet as a `\\0ddd` octal escape; the other values must be made of their alphabet, or
the launcher's rule fails naming its owner.
"""

load("@bazel_skylib//lib:unittest.bzl", "asserts", "unittest")

# buildifier: disable=bzl-visibility (these tests are of the private helpers)
load("@rules_nixstore//rules/private:launch_data.bzl", "checked", "launch_data")
load(":support.bzl", "suite")

_OWNER = "//pkg:tool (nixstore_executable)"
_SHA = "0123456789abcdef" * 4

def _data(program = "/nix/store/aaaa-hello/bin/hello", runfiles_repo = "hello", exec_repo = "external/hello", **kwargs):
    return launch_data(_OWNER, program, runfiles_repo, exec_repo, **kwargs)

def _program_line(program):
    return [line for line in _data(program = program).split("\n") if line.startswith("program=")][0]

def _plain_impl(ctx):
    env = unittest.begin(ctx)
    asserts.equals(env, "\n".join([
        "# rules_nixstore launcher data of //pkg:tool (nixstore_executable), read by _nixstore/enter",
        "program=/nix/store/aaaa-hello/bin/hello",
        "runfiles_repo=hello",
        "exec_repo=external/hello",
        "",
    ]), _data())
    return unittest.end(env)

def _nar_and_run_argv_impl(ctx):
    env = unittest.begin(ctx)
    lines = _data(nar = "_nixstore/closure.nar", nar_sha256 = _SHA, run_argv = True).split("\n")
    asserts.equals(env, ["nar=_nixstore/closure.nar", "nar_sha256=" + _SHA, "run=argv", ""], lines[4:])
    return unittest.end(env)

def _escaped_impl(ctx):
    env = unittest.begin(ctx)

    # Bytes outside the plain alphabet as \0 and three octal digits (the launcher decodes them).
    asserts.equals(env, "program=/nix/store/aaaa-x/bin/a\\0040b", _program_line("/nix/store/aaaa-x/bin/a b"))
    asserts.equals(env, "program=/nix/store/aaaa-x/bin/\\0012\\0015\\0011", _program_line("/nix/store/aaaa-x/bin/\n\r\t"))
    asserts.equals(
        env,
        "program=/nix/store/aaaa-x/bin/\\0044\\0047\\0042\\0134\\0140\\0073\\0052",
        _program_line("/nix/store/aaaa-x/bin/$'\"\\`;*"),
    )

    # Every byte Bazel's strings can hold (1-255): Latin-1 characters, e.g. UTF-8's bytes.
    asserts.equals(env, "program=/nix/store/aaaa-x/bin/caf\\0303\\0251\\0001\\0377", _program_line("/nix/store/aaaa-x/bin/caf\303\251\001\377"))

    # The plain alphabet stays as it is.
    plain = "/nix/store/aaaa-x/ABCXYZabcxyz0189+-._/=?"
    asserts.equals(env, "program=" + plain, _program_line(plain))
    return unittest.end(env)

def _one_line_per_key_impl(ctx):
    env = unittest.begin(ctx)

    # Whatever the program's name holds, the file has the same lines.
    for program in ["/nix/store/aaaa-x/bin/a\nexec_repo=/etc", "/nix/store/aaaa-x/bin/\\n", "/nix/store/aaaa-x/bin/\0120"]:
        keys = [line.split("=")[0] for line in _data(program = program).split("\n")[1:-1]]
        asserts.equals(env, ["program", "runfiles_repo", "exec_repo"], keys, repr(program))
    return unittest.end(env)

def _checked_impl(ctx):
    env = unittest.begin(ctx)
    asserts.equals(env, "abc", checked("a value", "abc", "abc", _OWNER))
    return unittest.end(env)

def _calls_impl(ctx):
    case = ctx.attr.case
    if case == "runfiles_repo_newline":
        _data(runfiles_repo = "hello\nprogram=/bin/sh")
    elif case == "exec_repo_empty":
        _data(exec_repo = "")
    elif case == "exec_repo_space":
        _data(exec_repo = "external/a b")
    elif case == "nar_sha256_short":
        _data(nar = "_nixstore/closure.nar", nar_sha256 = _SHA[1:])
    elif case == "nar_sha256_upper":
        _data(nar = "_nixstore/closure.nar", nar_sha256 = _SHA.upper())
    elif case == "nar_sha256_missing":
        _data(nar = "_nixstore/closure.nar")
    elif case == "nar_newline":
        _data(nar = "_nixstore/a\nb.nar", nar_sha256 = _SHA)
    else:
        fail("no case " + case)
    return []

_calls = rule(implementation = _calls_impl, attrs = {"case": attr.string(mandatory = True)})

_plain_test = unittest.make(_plain_impl)
_nar_and_run_argv_test = unittest.make(_nar_and_run_argv_impl)
_escaped_test = unittest.make(_escaped_impl)
_one_line_per_key_test = unittest.make(_one_line_per_key_impl)
_checked_test = unittest.make(_checked_impl)

_TESTS = {
    "launch_data_a_checked_value_is_returned": _checked_test,
    "launch_data_a_program_name_cannot_add_a_line": _one_line_per_key_test,
    "launch_data_plain_program": _plain_test,
    "launch_data_program_bytes_outside_the_alphabet_are_octal_escaped": _escaped_test,
    "launch_data_with_an_archive_and_run_argv": _nar_and_run_argv_test,
}

# Each names the owner, the value and what is wrong with it.
_FAILING = {
    "launch_data_refuses_a_newline_in_the_archive_path": ("nar_newline", "the archive's path \"_nixstore/a\\nb.nar\" holds \"\\n\""),
    "launch_data_refuses_a_newline_in_the_repository_name": (
        "runfiles_repo_newline",
        "//pkg:tool (nixstore_executable): the repository name \"hello\\nprogram=/bin/sh\" holds \"\\n=\"",
    ),
    "launch_data_refuses_a_short_archive_sha256": ("nar_sha256_short", "nar_sha256 must be 64 hex digits, not \"123456789abcdef0"),
    "launch_data_refuses_a_space_in_the_execution_path": ("exec_repo_space", "the closure's execution path \"external/a b\" holds \" \""),
    "launch_data_refuses_an_archive_without_its_sha256": ("nar_sha256_missing", "nar_sha256 \"\" holds nothing"),
    "launch_data_refuses_an_empty_execution_path": ("exec_repo_empty", "the closure's execution path \"\" holds nothing"),
    "launch_data_refuses_an_uppercase_archive_sha256": ("nar_sha256_upper", "nar_sha256 \"0123456789ABCDEF"),
}

def launch_data_tests(name):
    """The launcher data's tests, and a test_suite `name` of them.

    Args:
      name: the test_suite's name.
    """
    suite(name, _TESTS, _FAILING, _calls)
