"""Lays out Nix expression files inside a repository at their label paths.

Nix resolves relative paths (`import ./x.nix`, `./data`) next to the file that names them,
symlinks included, so each file sits at `<prefix>/<repository>/<package>/<name>`: relative
references between the declared files resolve, and undeclared files are not there.
"""

load(":command.bzl", "execute_or_fail")
load(":names.bzl", "portable_repo_name")

# A nixpkgs_local_repository's list of its Nix files (paths relative to its root, one a line).
NIX_FILES_LIST = "nix_files.txt"

def _nix_file_dest(prefix, label):
    """Where a file label lands inside the repository.

    The repository part is the portable name (`dep`, not bzlmod's canonical `dep~`): Nix path
    literals (`import ./src/dep/x.nix`) cannot hold `~`, and the layout is then the same under
    WORKSPACE and bzlmod.
    """
    repo = portable_repo_name(label.workspace_name)
    parts = [prefix] + ([repo] if repo else []) + ([label.package] if label.package else []) + [label.name]
    return "/".join(parts)

# Copies (source, destination) pairs given as arguments, creating directories: one process.
_COPY = 'while [ $# -gt 1 ]; do mkdir -p -- "$(dirname -- "$2")" && cp -L -- "$1" "$2" || exit 1; shift 2; done'

def lay_out_nix_files(repository_ctx, prefix, nix_file, deps, copy = False):
    """Symlinks (or copies) nix_file and deps at their label paths under prefix.

    Args:
      repository_ctx: the repository context.
      prefix: directory inside the repository.
      nix_file: a (label, path) pair, or None.
      deps: a list of (label, path) pairs.
      copy: copy the files instead of linking them: a remote repository action uploads only
        regular files (Bazel refuses a symlink as its input).

    Returns:
      struct(nix_file = the path inside the repository of nix_file, or None; files = the paths
      inside the repository of every file laid out, nix_file's included).
    """
    nix_file_at = _nix_file_dest(prefix, nix_file[0]) if nix_file else None
    pairs = [(path, dest) for path, dest in [(p, _nix_file_dest(prefix, label)) for label, p in deps] if dest != nix_file_at]
    if nix_file:
        pairs.append((nix_file[1], nix_file_at))
    laid_out = struct(nix_file = nix_file_at, files = [dest for _, dest in pairs])
    if not copy:
        for path, dest in pairs:
            repository_ctx.symlink(path, dest)
        return laid_out
    argv = ["/bin/sh", "-c", _COPY, "copy"]
    for path, dest in pairs:
        argv.extend([str(path), str(repository_ctx.path(dest))])
    execute_or_fail(repository_ctx, argv, "copying the Nix files into {} failed".format(repository_ctx.path(prefix)))
    return laid_out
