"""The launcher data file that `enter` reads beside each launcher: one `key=value` a line.

Written by `nixstore_executable` (the launchers of package repositories) and by the toolchain
repository of `nixpkgs_cc_configure` (its tools' launchers); read by nixstore_enter.c, never by a
shell. Each value is checked here against an alphabet without a newline; the program path is
written with every byte outside `_PLAIN` as a `\\0ddd` octal escape, which the launcher decodes.
"""

load(":constants.bzl", _LAUNCH_SUFFIX = "LAUNCH_SUFFIX")

_HEX = "0123456789abcdef"

# Bytes a program path may hold unescaped (its executable's name may hold quotes, `$`, spaces,
# newlines, ...: those are escaped).
_PLAIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-._/=?"

# Repository names and execution paths: what Bazel's canonical names and paths are made of.
_NAME = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-._~/"

# Every byte but NUL, in order: Bazel's Starlark strings hold a file name's bytes as the
# characters 1-255, and _BYTES.find(c) + 1 is the byte c stands for (Starlark has no ord()).
_BYTES = (
    "\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020" +
    "\021\022\023\024\025\026\027\030\031\032\033\034\035\036\037\040" +
    "\041\042\043\044\045\046\047\050\051\052\053\054\055\056\057\060" +
    "\061\062\063\064\065\066\067\070\071\072\073\074\075\076\077\100" +
    "\101\102\103\104\105\106\107\110\111\112\113\114\115\116\117\120" +
    "\121\122\123\124\125\126\127\130\131\132\133\134\135\136\137\140" +
    "\141\142\143\144\145\146\147\150\151\152\153\154\155\156\157\160" +
    "\161\162\163\164\165\166\167\170\171\172\173\174\175\176\177\200" +
    "\201\202\203\204\205\206\207\210\211\212\213\214\215\216\217\220" +
    "\221\222\223\224\225\226\227\230\231\232\233\234\235\236\237\240" +
    "\241\242\243\244\245\246\247\250\251\252\253\254\255\256\257\260" +
    "\261\262\263\264\265\266\267\270\271\272\273\274\275\276\277\300" +
    "\301\302\303\304\305\306\307\310\311\312\313\314\315\316\317\320" +
    "\321\322\323\324\325\326\327\330\331\332\333\334\335\336\337\340" +
    "\341\342\343\344\345\346\347\350\351\352\353\354\355\356\357\360" +
    "\361\362\363\364\365\366\367\370\371\372\373\374\375\376\377"
)

def _octal_escaped(text):
    """`text` with every character outside _PLAIN written as `\\0ddd` (the launcher decodes it)."""
    out = []
    for c in text.elems():
        if c in _PLAIN:
            out.append(c)
        else:
            n = _BYTES.find(c) + 1
            out.append("\\0{}{}{}".format(n // 64, n // 8 % 8, n % 8))
    return "".join(out)

def checked(what, value, alphabet, label):
    """`value` if it is non-empty and made of `alphabet` only; fails naming its owner otherwise.

    Args:
      what: what the value is, for the message.
      value: the value.
      alphabet: the characters it may hold.
      label: the target or repository it belongs to, for the message.

    Returns:
      The value.
    """
    bad = [c for c in value.elems() if c not in alphabet]
    if not value or bad:
        fail("{}: {} {} holds {}; the launcher data takes only {}".format(label, what, repr(value), repr("".join(bad)) if bad else "nothing", repr(alphabet)))
    return value

# The launcher data beside each launcher (nixstore_enter.c reads it; LAUNCH_SUFFIX there):
# constants.bzl's, named here for the files that load it with launch_data.
LAUNCH_SUFFIX = _LAUNCH_SUFFIX

def launch_data(owner, program, runfiles_repo, exec_repo, nar = None, nar_sha256 = None, run_argv = False):
    """The text of a launcher's data file.

    Args:
      owner: the target or repository the launcher belongs to, named in its comment and errors.
      program: the program's `/nix/store/...` path (with `run_argv`: a store path the command
        needs, whose visibility decides whether the closure is mapped).
      runfiles_repo: the repository's name in runfiles trees.
      exec_repo: the repository's path relative to the execution root, where the closure is.
      nar: the packed closure's path in the repository, or None.
      nar_sha256: the packed closure's sha256 (64 hex digits), with `nar`.
      run_argv: whether the launcher runs the command its arguments name (a toolchain's runtime).

    Returns:
      The file's text.
    """
    lines = [
        "# rules_nixstore launcher data of {}, read by _nixstore/enter".format(owner),
        "program=" + checked("the escaped program path", _octal_escaped(program), _PLAIN + "\\", owner),
        "runfiles_repo=" + checked("the repository name", runfiles_repo, _NAME, owner),
        "exec_repo=" + checked("the closure's execution path", exec_repo, _NAME, owner),
    ]
    if nar:
        sha256 = checked("nar_sha256", nar_sha256 or "", _HEX, owner)
        if len(sha256) != 64:
            fail("{}: nar_sha256 must be 64 hex digits, not {}".format(owner, repr(sha256)))
        lines.append("nar=" + checked("the archive's path", nar, _NAME, owner))
        lines.append("nar_sha256=" + sha256)
    if run_argv:
        lines.append("run=argv")
    return "\n".join(lines + [""])
