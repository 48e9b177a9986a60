"""Lays out a runtime closure inside a package repository, carrying nothing from outside it.

Every store path of the closure appears under `nix/store/<hash>-<name>` in the repository, so
that Bazel sees its files as ordinary source files (its globs follow directory symlinks into the
chroot store). Bazel follows symlinks in source trees, so a symlink of a store path would bring
whatever it resolves to on the fetching machine into the repository, every action input and the
remote CAS: a host file (`share/x -> /etc/x`, or `../../../../etc/x`), a file of the output
base's store that is not in the closure (`../<other hash>-y`), or nothing at all where an
absolute `/nix/store/...` target exists only inside the closure (Bazel's globs skip dangling
symlinks silently). So every symlink of the closure is resolved here, logically, as if the
closure alone were mounted at `/nix/store`:

- a link that resolves to a path of the closure through relative links only (`bin/sh ->
  busybox`, `../../<hash>-lib/lib/x.so`) is kept as it is: the store that holds the closure
  resolves it to the same path, physically (its own `nix/store/<entry>` links there);
- a link that resolves to a path of the closure through an absolute link is recreated pointing
  at that path inside the repository's own `nix/store/` (the directories holding it are
  mirrored: one symlink per entry);
- a link that resolves anywhere else ("escapes") is left out, and reported.

Names Bazel labels cannot hold (`\\`, `:`, control characters, `...`, and spaces where the
runfiles tree cannot hold them) would make the package's globs fail: they are left out too.
A directory that is not mirrored therefore holds no symlink and no such name at any depth.
"""

load(":command.bzl", "execute_or_fail", "printable")

# Symlinks followed while resolving one path, as the kernel's limit (ELOOP).
_MAX_LINKS = 40

# Steps of one resolution: its components plus those of every link followed.
_MAX_STEPS = 4096

# Shown of each list in a message; the rest are counted.
_SHOWN = 20

def runfiles_hold_spaces(repository_ctx):
    """Whether this Bazel's runfiles trees may hold names with spaces.

    build-runfiles refused them before Bazel 7.4 ("link or target filename contains space").
    Debian's builds report no version, so a feature of later Bazels stands for it:
    `repository_ctx.original_name` (Bazel 7.6, 8.1). Bazel 7.4 and 7.5 lose spaces needlessly.

    Args:
      repository_ctx: the repository context.

    Returns:
      A bool.
    """
    return hasattr(repository_ctx, "original_name")

def _scan_argv(root, store_paths, spaces):
    # find: unnamable entries (not descending into them) as "u<path>", symlinks as "l<path>",
    # "<target>"; NUL-separated. The -name patterns are fnmatch's, in the C locale.
    names = ["*\\\\*", "*:*", "*[[:cntrl:]]*", "..."] + ([] if spaces else ["* *"])
    unnamable = []
    for pattern in names:
        unnamable.extend(["-o", "-name", pattern])
    named = ["("] + unnamable[1:] + [")", "-prune", "-printf", "u%p\\0"]
    links = ["-type", "l", "-printf", "l%p\\0%l\\0"]
    return ["find"] + [root + p for p in store_paths] + ["("] + named + [")", "-o", "("] + links + [")"]

def parse_scan(stdout, root):
    """Reads a scan: NUL-separated records of find (below) or of `enter --import`.

    Records: `u<path>` an unnamable entry, `l<path>` then `<target>` a symlink, and from
    `enter --import` only, `d<path>` a store path that is a directory and `x<path>` a regular file
    directly in a store path's `bin/`. Paths start with `root` (stripped).

    Args:
      stdout: the scan's output.
      root: the store root its paths start with ("" for logical paths).

    Returns:
      struct(links = {path: target}, unnamable = [paths], dirs = [store paths] or None,
      executables = {store path: [names]}); `dirs` is None when the scan does not say (find).
    """
    links = {}
    unnamable = []
    dirs = None
    executables = {}
    fields = stdout.split("\0")
    i = 0
    for _ in range(len(fields)):
        if i >= len(fields) - 1:
            break
        kind, path = fields[i][:1], fields[i][1 + len(root):]
        i += 1
        if kind == "u":
            unnamable.append(path)
        elif kind == "l":
            links[path] = fields[i]
            i += 1
        elif kind == "d":
            dirs = (dirs or []) + [path]
        elif kind == "x":
            store_path = _store_path_of(path)
            executables[store_path] = executables.get(store_path, []) + [path.split("/")[-1]]
    return struct(links = links, unnamable = unnamable, dirs = dirs, executables = executables)

def scan_closure(repository_ctx, root, store_paths, spaces):
    """Lists the entries of a closure that need care: every symlink, and every unnamable name.

    Args:
      repository_ctx: the repository context.
      root: the store root ("" for the host's store).
      store_paths: logical `/nix/store/...` paths.
      spaces: whether names may hold spaces (runfiles_hold_spaces).

    Returns:
      struct(links = {logical path: target}, unnamable = [logical paths]); an unnamable
      directory is listed alone, not its content.
    """
    argv = _scan_argv(root, store_paths, spaces)
    result = execute_or_fail(
        repository_ctx,
        argv,
        "scanning the closure for symlinks failed",
        environment = {"LC_ALL": "C"},
        timeout = 3600,
    )
    return parse_scan(result.stdout, root)

def _store_path_of(path):
    return "/".join(path.split("/")[:4])

def _resolve(start, links, closure):
    """Resolves a path of the closure's file system, following its symlinks.

    Args:
      start: components of an absolute path.
      links: {logical path: target} of every symlink of the closure.
      closure: {store path entry: True}.

    Returns:
      (path, None, absolute) for a path inside a store path of the closure, where absolute tells
      whether an absolute link was followed on the way; (None, why, absolute) when the path
      leaves the closure.
    """
    done = []
    todo = list(start)
    followed = 0
    absolute = False
    for _ in range(_MAX_STEPS):
        if not todo:
            break
        part = todo.pop(0)
        if part in ["", "."]:
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        done.append(part)
        if done[:2] != ["nix", "store"][:len(done)]:
            return None, "resolves to {}, outside /nix/store".format(printable("/" + "/".join(done + todo))), absolute
        if len(done) == 3 and part not in closure:
            return None, "resolves into /nix/store/{}, a store path outside the closure".format(printable(part)), absolute
        path = "/" + "/".join(done)
        target = links.get(path)
        if target == None:
            continue
        followed += 1
        if followed > _MAX_LINKS:
            return None, "is a symlink loop", absolute
        done.pop()
        if target.startswith("/"):
            done = []
            absolute = True
        todo = target.split("/") + todo
    if todo:
        return None, "is a symlink loop", absolute
    if len(done) < 3:
        return None, "resolves to /{}, outside the closure's store paths".format("/".join(done)), absolute
    return "/" + "/".join(done), None, absolute

def plan_closure(scan, store_paths):
    """Decides what each symlink of the closure becomes in the repository.

    Args:
      scan: the result of scan_closure.
      store_paths: logical `/nix/store/...` paths of the closure.

    A link whose resolution follows only relative links (its own target and every link met on
    the way) resolves in the store that holds the closure exactly as it does logically, since
    that store holds every path of the closure side by side: the repository can keep it as it
    is (`relative`), unless what it resolves to holds, at any depth, an entry the repository
    leaves out or recreates (Bazel would find that entry's original under the kept link). A
    resolution through an absolute link would follow it on the fetching machine, so such a link
    is recreated pointing inside the repository (lay_out_closure).

    Returns:
      struct(
        links = {logical link path: the logical path it resolves to, inside the closure},
        relative = {logical link path: True} for the links the store resolves alike,
        escaping = [(logical link path, target, why)], sorted,
        unnamable = [logical paths], sorted,
      )
    """
    closure = {p[len("/nix/store/"):]: True for p in store_paths}
    resolved = {}
    relative = {}
    escaping = []
    for link, target in scan.links.items():
        start = target.split("/") if target.startswith("/") else link.split("/")[:-1] + target.split("/")
        path, why, absolute = _resolve(start, scan.links, closure)
        if path:
            resolved[link] = path
            if not target.startswith("/") and not absolute:
                relative[link] = True
        else:
            escaping.append((link, target, why))
    _keep_clean_targets(relative, resolved, [link for link, _, _ in escaping] + scan.unnamable)
    return struct(links = resolved, relative = relative, escaping = sorted(escaping), unnamable = sorted(scan.unnamable))

def _keep_clean_targets(relative, resolved, dropped):
    """Removes from `relative` each link whose resolved path holds an entry not kept as it is.

    Such entries are the dropped ones, the links recreated in the repository, and (in turn) the
    links removed here: repeated until nothing changes.
    """
    held = {}
    for path in dropped:
        _hold(held, path)
    for link in resolved:
        if link not in relative:
            _hold(held, link)
    for _ in range(len(relative) + 1):
        unsafe = [link for link in relative if resolved[link] in held]
        if not unsafe:
            break
        for link in unsafe:
            relative.pop(link)
            _hold(held, link)

def _hold(held, path):
    # Marks the path and every directory above it as holding an entry not kept as it is.
    parts = path.split("/")
    for i in range(2, len(parts) + 1):
        held["/".join(parts[:i])] = True

def _listing(lines):
    shown = ["  " + line for line in lines[:_SHOWN]]
    if len(lines) > _SHOWN:
        shown.append("  ... and {} more".format(len(lines) - _SHOWN))
    return "\n".join(shown)

def escaping_report(plan):
    """The escaping symlinks of a plan, one a line, for messages ("" when there are none)."""
    return _listing(["{} -> {} ({})".format(printable(link), printable(target), why) for link, target, why in plan.escaping])

def unnamable_report(plan):
    """The unnamable entries of a plan, one a line, for messages ("" when there are none)."""
    return _listing([repr(path) for path in plan.unnamable])

def _in_repo(repository_ctx, path):
    # /nix/store/<entry>/... -> <repository>/nix/store/<entry>/...
    return repository_ctx.path("nix/store/" + path[len("/nix/store/"):])

def _ancestors(relpath):
    parts = relpath.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts))]

def _mirror(repository_ctx, repo_dir, physical_dir, links, dropped, explode):
    # Starlark has no recursion: walk the directories to mirror with a worklist.
    pending = [""]
    for _ in range(len(explode) + 1):
        if not pending:
            break
        relpath = pending.pop()
        here = repo_dir + ("/" + relpath if relpath else "")
        for child in repository_ctx.path(physical_dir + ("/" + relpath if relpath else "")).readdir():
            rel = (relpath + "/" if relpath else "") + child.basename
            if rel in dropped:
                continue
            elif rel in links:
                repository_ctx.symlink(_in_repo(repository_ctx, links[rel]), here + "/" + child.basename)
            elif rel in explode:
                pending.append(rel)
            else:
                repository_ctx.symlink(child, here + "/" + child.basename)

def _by_store_path(paths):
    # {logical path: value} -> {store path: {path relative to it: value}}
    grouped = {}
    for path, value in paths.items():
        store_path = _store_path_of(path)
        grouped.setdefault(store_path, {})[path[len(store_path) + 1:]] = value
    return grouped

def lay_out_closure(repository_ctx, root, store_paths, plan):
    """Creates `nix/store/<entry>` in the repository for every store path of a closure.

    Args:
      repository_ctx: the repository context.
      root: the chroot store root ("" for the host's store).
      store_paths: logical `/nix/store/...` paths of the closure.
      plan: the result of plan_closure.
    """
    links = _by_store_path({link: path for link, path in plan.links.items() if link not in plan.relative})
    dropped = _by_store_path({p: True for p in plan.unnamable + [link for link, _, _ in plan.escaping]})
    for store_path in store_paths:
        entry = store_path[len("/nix/store/"):]
        here_links = links.get(store_path, {})
        here_dropped = dropped.get(store_path, {})
        if "" in here_dropped:
            continue
        if "" in here_links:
            # the store path itself is a symlink
            repository_ctx.symlink(_in_repo(repository_ctx, here_links[""]), "nix/store/" + entry)
            continue
        if not here_links and not here_dropped:
            repository_ctx.symlink(root + store_path, "nix/store/" + entry)
            continue
        explode = {}
        for rel in here_links.keys() + here_dropped.keys():
            for ancestor in _ancestors(rel):
                explode[ancestor] = True
        _mirror(repository_ctx, "nix/store/" + entry, root + store_path, here_links, here_dropped, explode)
