"""Commands of repository rules, and what a failed one says: who ran it, its command line, its exit code and stderr."""

load(":names.bzl", "apparent_name")

# Arguments of a command line shown in messages: the first and the last ones; those between
# are counted (a closure can have thousands of store paths).
_FIRST_ARGUMENTS = 12
_LAST_ARGUMENTS = 8

# Characters an argument may hold and still be shown without quotes.
_PLAIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-"

# Characters shown escaped, so that a name, a symlink's target or an argument cannot forge a
# line of a message.
_CONTROL = "\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020" + \
           "\021\022\023\024\025\026\027\030\031\032\033\034\035\036\037\177"

def printable(text):
    """Text for a message that cannot forge a line of it: quoted and escaped if it holds control characters.

    Args:
      text: a string from outside (a file name, a symlink's target, an argument).

    Returns:
      The text itself, or its Starlark `repr` when it holds a control character.
    """
    return repr(text) if [c for c in text.elems() if c in _CONTROL] else text

def _shown_argument(argument):
    text = str(argument)
    if text and not [c for c in text.elems() if c not in _PLAIN]:
        return text
    if printable(text) != text:
        return printable(text)
    return "'" + text.replace("'", "'\\''") + "'"

def command_line(argv):
    """The command as one line for messages, its arguments quoted as a shell would need them.

    Args:
      argv: the command as an argument list (strings, paths or labels).

    Returns:
      The line; of a command of more than 20 arguments, the first 12 and the last 8, with a
      count of those left out between them.
    """
    if len(argv) <= _FIRST_ARGUMENTS + _LAST_ARGUMENTS:
        return " ".join([_shown_argument(a) for a in argv])
    left_out = len(argv) - _FIRST_ARGUMENTS - _LAST_ARGUMENTS
    return " ".join(
        [_shown_argument(a) for a in argv[:_FIRST_ARGUMENTS]] +
        ["... ({} more arguments) ...".format(left_out)] +
        [_shown_argument(a) for a in argv[-_LAST_ARGUMENTS:]],
    )

def repository_who(repository_ctx):
    """Who runs a command, for helpers shared by several rules: `rules_nixstore (@<apparent name>)`.

    Args:
      repository_ctx: the repository context.

    Returns:
      The string that starts the helper's messages.
    """
    return "rules_nixstore (@{})".format(apparent_name(repository_ctx))

def command_failure(who, what, argv, result, said = "It said", fix = None):
    """The message of a command that failed.

    Args:
      who: the rule and repository, e.g. `nixpkgs_package(name = "jq")`; None leaves it out.
      what: what failed, e.g. `nix-build failed for attribute_path 'jq'`.
      argv: the command as an argument list.
      result: its `exec_result`.
      said: what introduces its stderr, e.g. "Nix said".
      fix: what the user can do, or None.

    Returns:
      `<who>: <what> (exit <code>).`, the command line, then its stderr (and the fix).
    """
    lines = [
        "{}{} (exit {}).".format(who + ": " if who else "", what, result.return_code),
        "  command: " + command_line(argv),
        "{}:".format(said),
        result.stderr,
    ]
    if fix:
        lines.append("  " + fix)
    return "\n".join(lines)

def check_result(result, argv, what, who, said = "It said", fix = None):
    """Fails with `command_failure` when a command exited with another code than 0.

    Args:
      result: the command's `exec_result`.
      argv: the command as an argument list.
      what: what failed, for the message.
      who: the rule and repository, for the message.
      said: what introduces its stderr.
      fix: what the user can do, or None.

    Returns:
      The result, when the command succeeded.
    """
    if result.return_code != 0:
        fail(command_failure(who, what, argv, result, said = said, fix = fix))
    return result

def execute_or_fail(repository_ctx, argv, what, who = None, said = "It said", fix = None, environment = {}, quiet = True, timeout = 600):
    """Runs a command and fails, saying who ran what, when it exits with another code than 0.

    Args:
      repository_ctx: the repository context.
      argv: the command as an argument list (never a shell string).
      what: what failed, for the message, e.g. `listing nix/store/x failed`.
      who: the rule and repository, e.g. `nixpkgs_package(name = "jq")`; default
        `repository_who(repository_ctx)`.
      said: what introduces the command's stderr in the message.
      fix: what the user can do, added to the message, or None.
      environment: variables added to the command's environment.
      quiet: whether to hide the command's output from the terminal.
      timeout: seconds before the command is killed.

    Returns:
      The command's `exec_result`, when it succeeded.
    """
    result = repository_ctx.execute(argv, environment = environment, quiet = quiet, timeout = timeout)
    return check_result(result, argv, what, who or repository_who(repository_ctx), said = said, fix = fix)
