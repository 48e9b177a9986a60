"""The machine cache: a chroot Nix store that outlives output bases, shared by all of the user's.

With `store = "output-base"` a package is evaluated and built in the machine cache
(`${XDG_CACHE_HOME:-$HOME/.cache}/rules_nixstore/store`, or `$RULES_NIXSTORE_MACHINE_CACHE`,
given with `--repo_env`; "off" turns it off), and its runtime closure is then brought into the
output base's own store (`<output_base>/nixstore`), which actions and the package repository use
as before. A fresh output base (a new checkout, `bazel clean --expunge`, another workspace) so
gets every path the cache holds without building it again.

Bringing a path in hard-links its files (they are read-only) and recreates its directories, so K
output bases holding a package cost about one copy; across file systems the files are copied
(with a note). The cache database's registration of each path (NAR hash, references) is loaded
into the output base's, so `nix-store --verify-path`, the lock's checks and `nixgen gc` work there.

Before a path is brought in, its copy in the cache is verified against its NAR hash: a modified
copy is refused, named, and rebuilt in the cache (`nix-store --repair-path`); when that fails
the package is built in the output base's store instead. `nixgen gc --machine-cache` deletes the
cache's paths that no package repository of any output base uses any more: every repository's
`_nixstore/result` link is a garbage-collector root of the cache as well as of its output base.
"""

load(":command.bzl", "command_failure", "execute_or_fail")
load(":constants.bzl", "MACHINE_CACHE_BASES", "MACHINE_CACHE_ENV", "MACHINE_CACHE_OFF", "MACHINE_CACHE_SUBDIR")
load(":names.bzl", "apparent_name")
load(":store.bzl", "NIX_OPTIONS", "flock_argv", "gc_root_argv", "init_store", "run_nix", "run_nix_or_fail")

# Lock of the cache taken by the steps that change its paths (repairs; pruning takes it too).
_CACHE_LOCK = "nix/var/nix/.rules_nixstore-cache.lock"

def _what(repository_ctx):
    # The shared evaluation (evaluation.bzl) uses the cache too; only it has `packages`.
    rule = "nixpkgs_evaluation" if hasattr(repository_ctx.attr, "packages") else "nixpkgs_package"
    return "{}(name = \"{}\")".format(rule, apparent_name(repository_ctx))

def _fail(repository_ctx, message):
    fail("{}: {}".format(_what(repository_ctx), message))

def _note(repository_ctx, message):
    # buildifier: disable=print
    print("{}: {}".format(_what(repository_ctx), message))

def note_copied(repository_ctx, cache, output_base_root):
    """Says that the cache's paths were copied into the output base's store, not hard-linked.

    Args:
      repository_ctx: the repository context.
      cache: the machine_cache struct.
      output_base_root: the root of the output base's store.
    """
    _note(repository_ctx, "the machine cache {} and the output base's store {} are on different file systems, so its paths were copied, not hard-linked. Set {} (with --repo_env) to a directory on the output base's file system to share the files.".format(
        cache.root,
        output_base_root,
        MACHINE_CACHE_ENV,
    ))

def machine_cache(repository_ctx):
    """The machine cache for this fetch, or None when it is off.

    The location is read from the environment without making it a dependency of the
    repository: where the cache lives changes nothing the repository holds.

    Args:
      repository_ctx: the repository context.

    Returns:
      struct(root, args, import_script), or None.
    """
    env = repository_ctx.os.environ
    root = env.get(MACHINE_CACHE_ENV, "")
    if root == MACHINE_CACHE_OFF:
        return None
    if not root:
        # Under the first base that is an absolute path (nixgen gc finds it by the same constants).
        for variable, subdirectory in MACHINE_CACHE_BASES:
            base = env.get(variable, "")
            if base.startswith("/"):
                root = "/".join([base] + ([subdirectory] if subdirectory else []) + [MACHINE_CACHE_SUBDIR])
                break
        if not root:
            return None
    if not root.startswith("/"):
        _fail(repository_ctx, "{}={} is not an absolute path; give the machine cache's directory as one (or \"off\").".format(MACHINE_CACHE_ENV, root))
    return struct(
        root = root.rstrip("/"),
        args = ["--store", root.rstrip("/")] + NIX_OPTIONS,
        import_script = repository_ctx.path(Label("//rules/private:machine_cache_import.sh")),
    )

def init_machine_cache(repository_ctx, cache, nix_store):
    """Creates the cache's store once (under a lock, as for the output base's store).

    Args:
      repository_ctx: the repository context.
      cache: the machine_cache struct.
      nix_store: path of the `nix-store` command.
    """
    execute_or_fail(
        repository_ctx,
        ["mkdir", "-p", cache.root],
        "cannot create the machine cache {} ({})".format(cache.root, MACHINE_CACHE_ENV),
        who = _what(repository_ctx),
        fix = "Set {} to a writable directory (with --repo_env), or to \"off\".".format(MACHINE_CACHE_ENV),
    )
    init_store(repository_ctx, cache.root, nix_store)

def _nix_options(nixopts):
    """The `--option NAME VALUE` triples of a package's nixopts (nix-store takes those too)."""
    options = []
    for i in range(len(nixopts) - 2):
        if nixopts[i] == "--option":
            options.extend(nixopts[i:i + 3])
    return options

def _modified(stderr):
    """Store paths `nix-store --verify-path` reports as modified."""
    paths = []
    for line in stderr.splitlines():
        if "was modified" in line and "'" in line:
            paths.append(line.split("'")[1])
    return paths

def _present(repository_ctx, cache, paths):
    """The paths whose files are in the cache (a store path may itself be a symlink)."""
    files = [cache.root + p for p in paths]
    result = repository_ctx.execute(["find"] + files + ["-maxdepth", "0", "-printf", "%p\\n"])
    found = {line: True for line in result.stdout.splitlines()}
    return [p for p, f in zip(paths, files) if f in found]

def _verify(repository_ctx, cache, nix_store, paths):
    """The paths whose copy in the cache is missing or differs from its NAR hash ([] when all are intact)."""
    present = _present(repository_ctx, cache, paths)
    missing = [p for p in paths if p not in present]
    if not present:
        return missing
    argv = [nix_store] + cache.args + ["--verify-path"] + present
    result = run_nix(repository_ctx, argv, timeout = 3600)
    if result.return_code == 0:
        return missing
    modified = _modified(result.stderr)
    if not modified:
        fail(command_failure(_what(repository_ctx), "verifying the machine cache's copies failed", argv, result, said = "Nix said"))
    return missing + modified

def _repair(repository_ctx, cache, nix_store, modified):
    """Rebuilds (or substitutes) the modified paths in the cache; returns whether they are intact."""
    _note(repository_ctx, "\n".join([
        "the machine cache {} holds modified (or lacks the) copies of these store paths; they are refused and rebuilt there:".format(cache.root),
    ] + ["  " + p for p in modified]))
    locked = flock_argv(repository_ctx, "{}/{}".format(cache.root, _CACHE_LOCK), "the machine cache {} while it repairs store paths there".format(cache.root), who = _what(repository_ctx))
    argv = locked + [nix_store] + cache.args + _nix_options(repository_ctx.attr.nixopts) + ["--repair-path"] + modified
    result = run_nix(repository_ctx, argv, quiet = repository_ctx.attr.quiet)
    if result.return_code == 0 and not _verify(repository_ctx, cache, nix_store, modified):
        return True
    _note(repository_ctx, "rebuilding them in the machine cache failed (`{}`, exit {}):\n{}\n  The package is built in the output base's store instead. Delete the machine cache ({}) to start it afresh.".format(
        " ".join(argv),
        result.return_code,
        result.stderr,
        cache.root,
    ))
    return False

def _invalid_in(repository_ctx, nix_store, store_args, paths):
    """The paths that the store does not hold as valid paths."""
    argv = [nix_store] + store_args + ["--check-validity", "--print-invalid"] + paths
    result = run_nix_or_fail(repository_ctx, argv, "checking which store paths the store holds failed", who = _what(repository_ctx))
    return [line for line in result.stdout.splitlines() if line.startswith("/nix/store/")]

def import_closure(repository_ctx, cache, nix_store, output_base_root, outputs, closure):
    """Brings a closure built in the cache into the output base's store, and roots its outputs there.

    Args:
      repository_ctx: the repository context.
      cache: the machine_cache struct.
      nix_store: path of the `nix-store` command.
      output_base_root: the root of the output base's store.
      outputs: the package's output paths (rooted by the repository's `_nixstore/result`).
      closure: every store path of their runtime closure.

    Returns:
      False when the cache's copies were modified and could not be rebuilt (nothing was
      brought in: build in the output base's store instead), else True.
    """
    output_base_args = ["--store", output_base_root] + NIX_OPTIONS
    missing = _invalid_in(repository_ctx, nix_store, output_base_args, closure)
    if missing:
        repository_ctx.report_progress("verifying {} store path(s) of the machine cache".format(len(missing)))
        modified = _verify(repository_ctx, cache, nix_store, missing)
        if modified and not _repair(repository_ctx, cache, nix_store, modified):
            return False
        repository_ctx.report_progress("bringing {} store path(s) from the machine cache".format(len(missing)))
        argv = ["sh", str(cache.import_script), cache.root, output_base_root, nix_store] + missing
        result = execute_or_fail(repository_ctx, argv, "bringing store paths from the machine cache failed", who = _what(repository_ctx), timeout = 3600)
        if result.stdout.startswith("copied") and not result.stdout.startswith("copied 0"):
            note_copied(repository_ctx, cache, output_base_root)

    # The repository's result link roots the outputs in the output base's store too.
    run_nix_or_fail(
        repository_ctx,
        gc_root_argv(repository_ctx, nix_store, output_base_args, outputs),
        "registering the outputs as garbage collector roots of the output base's store failed",
        who = _what(repository_ctx),
    )
    return True

def import_pinned(repository_ctx, cache, nix_store, output_base_root, entry):
    """Brings a lock-pinned closure from the cache without evaluating, when the cache holds it.

    Args:
      repository_ctx: the repository context.
      cache: the machine_cache struct.
      nix_store: path of the `nix-store` command.
      output_base_root: the root of the output base's store.
      entry: the lock entry (struct(inputs, out, closure)).

    Returns:
      True when the pinned closure is now in the output base's store; False when the cache
      lacks a path or holds another build of it (the caller builds).
    """
    paths = sorted(entry.closure.keys())
    result = repository_ctx.execute([nix_store] + cache.args + ["--query", "--hash"] + paths)
    if result.return_code != 0 or result.stdout.splitlines() != [entry.closure[p] for p in paths]:
        return False

    # Rooted in the cache first, so that a concurrent pruning keeps them.
    result = run_nix(repository_ctx, gc_root_argv(repository_ctx, nix_store, cache.args, entry.out))
    if result.return_code != 0:
        return False
    return import_closure(repository_ctx, cache, nix_store, output_base_root, entry.out, paths)

# The pure helpers that decide what is repaired, for the Starlark unit tests (test/starlark);
# not an API.
machine_cache_testing = struct(
    modified = _modified,
    nix_options = _nix_options,
)
