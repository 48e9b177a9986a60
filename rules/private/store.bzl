"""The chroot Nix store inside Bazel's output base, and the Nix commands run against it."""

load(":command.bzl", "check_result", "execute_or_fail", "repository_who")
load(":constants.bzl", "STORE_DIRNAME")

# Transient failures of single-user Nix when several Bazel fetches use one store at once.
_TRANSIENT = ["is busy", "' is corrupt", "database is locked"]
_ATTEMPTS = 5

# Options of every Nix command against the chroot store. As root, Nix would otherwise build
# as `nixbld` users, taking them through lock files in the host's /nix/var/nix/userpool and
# killing every process of a build user it takes: builds of other stores (other output bases)
# could then kill each other's builders (seen here as "failed due to signal 9"), and the host's
# /nix would be written to. Without build users, a root build runs as root inside Nix's sandbox;
# for other users the option changes nothing.
NIX_OPTIONS = ["--option", "build-users-group", ""]

def find_nix(repository_ctx, tools):
    """Finds Nix commands on PATH, on Linux only.

    Args:
      repository_ctx: the repository context.
      tools: names of the commands needed, e.g. `["nix-build", "nix-store"]`.

    Returns:
      (dict from name to path, None), or (None, why not: a sentence for the user).
    """
    if repository_ctx.os.name.lower().find("linux") < 0:
        return None, "rules_nixstore supports Linux only (this is {}).".format(repository_ctx.os.name)
    found = {tool: repository_ctx.which(tool) for tool in tools}
    if not all(found.values()):
        return None, "{} were not found on PATH.".format(" and ".join(tools))
    return {tool: str(path) for tool, path in found.items()}, None

def store_root(repository_ctx):
    """Returns the root of the chroot Nix store shared by every package of this output base.

    Repositories live at `<output_base>/external/<name>`; the store lives at
    `<output_base>/nixstore`, and its files under `<output_base>/nixstore/nix/store`.

    Args:
      repository_ctx: the repository context.

    Returns:
      The store root, as a string.
    """
    output_base = repository_ctx.path(".").dirname.dirname
    return "{}/{}".format(output_base, STORE_DIRNAME)

def flock_argv(repository_ctx, lock, what, who = None):
    """The command that runs another under an exclusive lock of a file: `flock <lock>`; fails without flock.

    Without the lock the store would be used unguarded (Bazel fetches repositories in parallel),
    so a missing `flock` is an error, not a reason to run unlocked.

    Args:
      repository_ctx: the repository context.
      lock: the lock file.
      what: what the lock guards, for the message, e.g. `the creation of the Nix store at /x`.
      who: the rule and repository, for the message; default `repository_who(repository_ctx)`.

    Returns:
      `[<flock>, lock]`, to put before the command's own arguments.
    """
    flock = repository_ctx.which("flock")
    if not flock:
        fail("{}: flock is not on PATH ({}): rules_nixstore locks {} with it, as Bazel fetches repositories in parallel, and does not run unlocked.\n  Fix: install flock (Debian and Ubuntu: apt-get install util-linux; Fedora: dnf install util-linux-core) or put it on the PATH that Bazel fetches with (--repo_env=PATH=...).".format(
            who or repository_who(repository_ctx),
            repository_ctx.os.environ.get("PATH", ""),
            what,
        ))
    return [str(flock), lock]

def init_store(repository_ctx, root, nix_store):
    """Creates the store's database once, under a lock.

    A fresh single-user store used by several processes at once fails with
    `SQLite database ... is busy` or `.../db/schema is corrupt`; once the database
    exists, Nix retries contended access by itself. Fails, naming flock, where flock is missing.

    Args:
      repository_ctx: the repository context.
      root: the store root.
      nix_store: path of the `nix-store` command.
    """
    locked = flock_argv(repository_ctx, root + "/nix/var/nix/.nixstore-init.lock", "the creation of the Nix store at " + root)
    repository_ctx.execute(["mkdir", "-p", root + "/nix/var/nix"])
    argv = locked + [nix_store, "--store", root] + NIX_OPTIONS + ["--init"]
    execute_or_fail(repository_ctx, argv, "cannot initialise the Nix store at " + root, timeout = 600)

def run_nix(repository_ctx, argv, quiet = True, timeout = 86400):
    """Runs a Nix command, retrying the transient failures of a contended store.

    Args:
      repository_ctx: the repository context.
      argv: the command as an argument list (never a shell string).
      quiet: whether to hide the command's output from the terminal.
      timeout: seconds before the command is killed.

    Returns:
      The `exec_result` of the last attempt.
    """
    result = None
    for _ in range(_ATTEMPTS):
        result = repository_ctx.execute(argv, quiet = quiet, timeout = timeout)
        if result.return_code == 0:
            return result
        transient = [t for t in _TRANSIENT if t in result.stderr]
        if not transient:
            return result
    return result

def run_nix_or_fail(repository_ctx, argv, what, who = None, quiet = True, timeout = 86400):
    """Runs a Nix command as `run_nix` does, and fails saying who ran what when it fails.

    Args:
      repository_ctx: the repository context.
      argv: the command as an argument list (never a shell string).
      what: what failed, for the message.
      who: the rule and repository, for the message; default `repository_who(repository_ctx)`.
      quiet: whether to hide the command's output from the terminal.
      timeout: seconds before the command is killed.

    Returns:
      The `exec_result`, when the command succeeded.
    """
    result = run_nix(repository_ctx, argv, quiet = quiet, timeout = timeout)
    return check_result(result, argv, what, who or repository_who(repository_ctx), said = "Nix said")

def gc_root_argv(repository_ctx, nix_store, store_args, outputs):
    """The command that makes the repository's `_nixstore/result*` links garbage collector roots of outputs.

    Args:
      repository_ctx: the repository context.
      nix_store: path of the `nix-store` command.
      store_args: the `--store <root>` and option arguments of the store that holds outputs.
      outputs: store paths.

    Returns:
      The command as an argument list.
    """
    return [nix_store] + store_args + ["--realise", "--add-root", str(repository_ctx.path("_nixstore/result"))] + outputs

def nix_config_files(repository_ctx):
    """The contents of the nix.conf files Nix reads (settings such as `system` change evaluations).

    Args:
      repository_ctx: the repository context.

    Returns:
      A dict from each such file that exists to its text.
    """
    env = repository_ctx.os.environ
    files = [env.get("NIX_CONF_DIR", "/etc/nix") + "/nix.conf"]
    if "NIX_USER_CONF_FILES" in env:
        files += env["NIX_USER_CONF_FILES"].split(":")
    elif "XDG_CONFIG_HOME" in env or "HOME" in env:
        files.append(env.get("XDG_CONFIG_HOME", env.get("HOME", "") + "/.config") + "/nix/nix.conf")
    contents = {}
    for f in files:
        if f.startswith("/") and repository_ctx.path(f).exists:
            contents[f] = repository_ctx.read(f)
    return contents
