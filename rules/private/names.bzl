"""Names that are the same under WORKSPACE (Bazel 4) and bzlmod (Bazel 7+).

Under bzlmod, `repository_ctx.name` and a label's `workspace_name` are canonical names
(`_main~nixstore~jq` on Bazel 7, `+nixstore+jq` on Bazel 8), which differ between Bazel
versions and from what users write. Messages, lock pins and digests use these instead.
"""

def apparent_name(repository_ctx):
    """The repository's name as its declaration wrote it.

    Bazel 7.7.1 has `repository_ctx.original_name` (the `name` given to the rule); where it
    is missing, the name is read off the canonical name. Under WORKSPACE `repository_ctx.name`
    is that name already.

    Args:
      repository_ctx: the repository context.

    Returns:
      The apparent name, e.g. "jq".
    """
    original = getattr(repository_ctx, "original_name", None)
    if original:
        return original
    return portable_repo_name(repository_ctx.name)

def package_who(repository_ctx):
    """How the messages of a package repository name it: `nixpkgs_package(name = "<apparent name>")`.

    A rule that builds like a package but is declared otherwise (a toolchain) names its
    declaration in its private attribute `_who`.

    Args:
      repository_ctx: the repository context of a nixpkgs_package repository.

    Returns:
      The declaration, as the user wrote its name.
    """
    return "{}(name = \"{}\")".format(getattr(repository_ctx.attr, "_who", "nixpkgs_package"), apparent_name(repository_ctx))

def label_string(label):
    """A label usable from a BUILD file of another repository, on Bazel 4 and on Bazel 7+.

    Args:
      label: a Label.

    Returns:
      Its text, with the repository always written (`@//pkg:name` for the main repository).
    """
    s = str(label)
    if s.startswith("//"):
        s = "@" + s
    return s

def write_workspace_file(repository_ctx):
    """Writes the repository's WORKSPACE file, naming it as its declaration did.

    Args:
      repository_ctx: the repository context.
    """
    repository_ctx.file("WORKSPACE", "workspace(name = \"{}\")\n".format(apparent_name(repository_ctx)))

def portable_repo_name(canonical):
    """The part of a canonical repository name that a user wrote (`rules_foo~1.0` -> `rules_foo`).

    Args:
      canonical: a repository name as Bazel gives it (`Label.workspace_name`).

    Returns:
      "" for the main repository, otherwise the last name in the canonical name.
    """
    name = canonical
    if name in ["", "_main", "@"]:
        return ""

    # Bazel 7 joins with "~", Bazel 8 with "+": module~[version], [module]~extension~name.
    for sep in ["~", "+"]:
        parts = [p for p in name.split(sep) if p]
        if len(parts) > 2:
            name = parts[-1]
        elif len(parts) == 2:
            name = parts[0] if parts[1][0].isdigit() else parts[1]
        elif len(parts) == 1:
            name = parts[0]
    return name

def portable_label(label):
    """A label's text that is equal under WORKSPACE and bzlmod: `//pkg:name` or `@repo//pkg:name`.

    Args:
      label: a Label.

    Returns:
      The label as text, with the main repository written `//...` and other repositories by
      their portable name.
    """
    repo = portable_repo_name(label.workspace_name)
    return "{}//{}:{}".format("@" + repo if repo else "", label.package, label.name)

def sibling_file(repository_ctx, repo, file):
    """A file of another repository declared next to this one (by the same WORKSPACE or extension).

    Under WORKSPACE, repository names are global; under bzlmod, a repository of an extension has
    the canonical name `<extension prefix><name>` and its siblings share the prefix. Resolving
    the sibling only when needed (rather than through a label attribute, which Bazel fetches
    before the rule runs, and re-fetches with `bazel sync`) keeps it unfetched when unused.

    Args:
      repository_ctx: the repository context of this repository.
      repo: the sibling's apparent name.
      file: a file at the sibling's root.

    Returns:
      The file's path (fetching the sibling first if needed).
    """
    canonical = repository_ctx.name
    own = apparent_name(repository_ctx)
    if canonical == own or not canonical.endswith(own):
        return repository_ctx.path(Label("@{}//:{}".format(repo, file)))
    return repository_ctx.path(Label("@@{}{}//:{}".format(canonical[:-len(own)], repo, file)))
