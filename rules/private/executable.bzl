"""nixstore_executable: a runnable target for one executable of a Nix package, carrying its closure."""

_DOC = """\
Runs `program` (a `/nix/store/...` path) through a launcher: a link to `enter` (no shell) beside
a data file naming the program. Where `/nix/store` shows the program (a real store, or the
linux-sandbox with the generated `--sandbox_add_mount_pair`), the launcher just `exec`s it;
anywhere else (remote workers, `--spawn_strategy=local`) it maps the closure, which this target
carries as runfiles, read-only at `/nix/store` in a user + mount namespace. The closure travels
either as its files (`closure`) or packed into one Nix archive (`nar`, `nar_sha256`), which the
launcher unpacks once per machine and user, checking its sha256. Package repositories declare
one per `bin/<exe>`.
"""

_HEX = "0123456789abcdef"

# The launcher data (`<launcher>.nixstore-launch`, one `key=value` a line) holds the program path
# and two names; nixstore_enter.c reads it, no shell ever does. Each value is checked here against
# an alphabet without a newline; the program path (its executable's name may hold quotes, `$`,
# spaces, newlines, ...) is written with every byte outside _PLAIN as a `\0ddd` octal escape,
# which the launcher decodes.
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

def _checked(what, value, alphabet, label):
    """`value` if it is non-empty and made of `alphabet` only; fails naming the target otherwise."""
    bad = [c for c in value.elems() if c not in alphabet]
    if not value or bad:
        fail("{}: {} {} holds {}; the launcher data takes only {}".format(label, what, repr(value), repr("".join(bad)) if bad else "nothing", repr(alphabet)))
    return value

def _repo_relative_prefix(files, marker):
    """Returns the part of a closure file's path before `marker`, or fails."""
    for f in files:
        i = f.path.find(marker)
        if i >= 0:
            return f.path[:i]
    fail("the closure of this executable holds no file under " + marker)

# The launcher data beside each launcher (nixstore_enter.c reads it; LAUNCH_SUFFIX there).
_LAUNCH_SUFFIX = ".nixstore-launch"

def _carried(ctx):
    """What carries the closure: (runfiles, exec_repo, extra launcher data lines)."""
    if bool(ctx.files.closure) == bool(ctx.file.nar):
        fail("{}: give exactly one of closure and nar".format(ctx.label))
    if not ctx.file.nar:
        closure = ctx.files.closure
        exec_repo = _repo_relative_prefix(closure, "/nix/store/") if ctx.label.workspace_name else "."
        return closure, exec_repo, []
    nar = ctx.file.nar
    sha256 = _checked("nar_sha256", ctx.attr.nar_sha256, _HEX, ctx.label)
    if len(sha256) != 64:
        fail("{}: nar_sha256 must be 64 hex digits, not {}".format(ctx.label, repr(sha256)))
    exec_repo = _repo_relative_prefix([nar], "/_nixstore/") if ctx.label.workspace_name else "."
    in_repo = nar.path[len(exec_repo) + 1:] if ctx.label.workspace_name else nar.short_path
    return [nar], exec_repo, [
        "nar=" + _checked("the archive's path", in_repo, _NAME, ctx.label),
        "nar_sha256=" + sha256,
    ]

def _nixstore_executable_impl(ctx):
    launcher = ctx.actions.declare_file("_nixstore/" + ctx.label.name)
    data = ctx.actions.declare_file("_nixstore/" + ctx.label.name + _LAUNCH_SUFFIX)
    closure, exec_repo, nar_lines = _carried(ctx)
    runfiles_repo = ctx.label.workspace_name or ctx.workspace_name

    # The launcher is `enter` itself (no shell): run under the launcher's path, it reads the data
    # file beside that path. The link's bytes are enter's, the same on every machine.
    ctx.actions.symlink(output = launcher, target_file = ctx.file.enter, is_executable = True)
    ctx.actions.write(data, "\n".join([
        "# rules_nixstore launcher data of {} (nixstore_executable), read by _nixstore/enter".format(ctx.label),
        "program=" + _checked("the escaped program path", _octal_escaped(ctx.attr.program), _PLAIN + "\\", ctx.label),
        "runfiles_repo=" + _checked("the repository name", runfiles_repo, _NAME, ctx.label),
        "exec_repo=" + _checked("the closure's execution path", exec_repo, _NAME, ctx.label),
    ] + nar_lines + [""]))
    runfiles = ctx.runfiles(files = closure + [ctx.file.enter, data])
    return [DefaultInfo(
        executable = launcher,
        files = depset([launcher]),
        runfiles = runfiles,
    )]

nixstore_executable = rule(
    implementation = _nixstore_executable_impl,
    doc = _DOC,
    executable = True,
    attrs = {
        "closure": attr.label(
            doc = "Every file of the program's runtime closure, laid out under `nix/store/` of the package repository. Give this or `nar`.",
            allow_files = True,
        ),
        "nar": attr.label(
            doc = "The program's runtime closure packed into one Nix archive of its store paths (`packed_closure`), in the package repository. Give this or `closure`.",
            allow_single_file = [".nar"],
        ),
        "nar_sha256": attr.string(
            doc = "The sha256 of `nar`, 64 lowercase hex digits: the launcher checks the archive against it when it unpacks it.",
        ),
        "enter": attr.label(
            doc = "The `enter` binary of the package repository (`_nixstore/enter`): the launcher is a link to it, and it maps the closure.",
            mandatory = True,
            allow_single_file = True,
            cfg = "target",
        ),
        "program": attr.string(
            doc = "The program's logical path, `/nix/store/<hash>-<name>/bin/<exe>`.",
            mandatory = True,
        ),
    },
)
