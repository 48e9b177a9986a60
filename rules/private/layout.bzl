"""Lays out a runtime closure inside a package repository.

Every store path of the closure appears under `nix/store/<hash>-<name>` in the
repository, so that Bazel sees its files as ordinary source files (its globs
follow directory symlinks into the chroot store). Absolute symlinks inside store
paths (`/nix/store/<other>/...`) would dangle on a host without `/nix/store`,
and Bazel's globs skip dangling symlinks silently; the directories that hold
them are therefore mirrored, and each such symlink is recreated pointing at the
same path inside the repository's own `nix/store/`.
"""

def find_absolute_symlinks(repository_ctx, root, store_paths):
    """Lists the symlinks in the given store paths whose target is under /nix/store.

    Args:
      repository_ctx: the repository context.
      root: the chroot store root.
      store_paths: logical `/nix/store/...` paths.

    Returns:
      A dict from store path to a list of (relative path, target) pairs.
    """
    argv = ["find"] + [root + p for p in store_paths] + ["-type", "l", "-lname", "/nix/store/*", "-printf", "%p\\0%l\\0"]
    result = repository_ctx.execute(argv, timeout = 3600)
    if result.return_code != 0:
        fail("rules_nixstore: scanning the closure for symlinks failed:\n" + result.stderr)
    found = {}
    fields = result.stdout.split("\0")
    for i in range(0, len(fields) - 1, 2):
        link = fields[i][len(root):]
        target = fields[i + 1]
        store_path = "/".join(link.split("/")[:4])
        found.setdefault(store_path, []).append((link[len(store_path) + 1:], target))
    return found

def _in_repo(repository_ctx, target):
    # /nix/store/<entry>/... -> <repository>/nix/store/<entry>/...
    return repository_ctx.path("nix/store/" + target[len("/nix/store/"):])

def _ancestors(relpath):
    parts = relpath.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts))]

def _mirror(repository_ctx, repo_dir, physical_dir, links, explode):
    # Starlark has no recursion: walk the directories to mirror with a worklist.
    pending = [""]
    for _ in range(len(explode) + 1):
        if not pending:
            break
        relpath = pending.pop()
        here = repo_dir + ("/" + relpath if relpath else "")
        for child in repository_ctx.path(physical_dir + ("/" + relpath if relpath else "")).readdir():
            rel = (relpath + "/" if relpath else "") + child.basename
            if rel in links:
                repository_ctx.symlink(_in_repo(repository_ctx, links[rel]), here + "/" + child.basename)
            elif rel in explode:
                pending.append(rel)
            else:
                repository_ctx.symlink(child, here + "/" + child.basename)

def lay_out_closure(repository_ctx, root, store_paths, absolute_links):
    """Creates `nix/store/<entry>` in the repository for every store path of a closure.

    Args:
      repository_ctx: the repository context.
      root: the chroot store root.
      store_paths: logical `/nix/store/...` paths of the closure.
      absolute_links: the result of find_absolute_symlinks.
    """
    for store_path in store_paths:
        entry = store_path[len("/nix/store/"):]
        links = {rel: target for rel, target in absolute_links.get(store_path, [])}
        if not links:
            repository_ctx.symlink(root + store_path, "nix/store/" + entry)
            continue
        if "" in links:
            # the store path itself is a symlink to another store path
            repository_ctx.symlink(_in_repo(repository_ctx, links[""]), "nix/store/" + entry)
            continue
        explode = {}
        for rel in links:
            for ancestor in _ancestors(rel):
                explode[ancestor] = True
        _mirror(repository_ctx, "nix/store/" + entry, root + store_path, links, explode)
