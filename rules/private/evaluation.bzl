"""One Nix evaluation for every package of a nixpkgs: the plan, and the repository that runs it.

Evaluating nixpkgs costs 1-5 s per Nix process. Packages that name their attribute in the same
nixpkgs (the same `repositories`, `store` and `nixopts`, no `nix_file`, `nix_file_content` or
`nix_file_deps`, and `nixopts` that are only `--option <name> <value>` settings) share one `nixpkgs_evaluation` repository: it runs
one `nix-instantiate` with an `-A` per package and writes each package's derivation to
`<package>.drv`. Each package then only realises its derivation (`nix-store --realise`): no
evaluation of its own. Adding, removing or changing a package evaluates once, and the packages
whose derivation did not change are not fetched again (their `.drv` file kept its content).

When the shared evaluation fails (an unknown attribute, a broken package), every `.drv` file
is empty and each package evaluates on its own, so that Nix's message names the one package
and attribute at fault.
"""

load(":constants.bzl", "REPOSITORY_HEADER")
load(":machine_cache.bzl", "init_machine_cache", "machine_cache")
load(":names.bzl", "write_workspace_file")
load(":sha256.bzl", "nix_base32")
load(":store.bzl", "NIX_OPTIONS", "find_nix", "init_store", "nix_config_files", "run_nix", "store_root")

_PREFIX = "nixstore_evaluation_"

_EXPRESSION = "import <nixpkgs> { config = {}; overlays = []; }"

def nixpkgs_expression():
    """The Nix expression that a package's `attribute_path` selects from (no nix_file given).

    Returns:
      The expression, for `nix-build -E` / `nix-instantiate -E`.
    """
    return _EXPRESSION

def settings_only(nixopts):
    """Whether nixopts are only Nix settings (`--option <name> <value>`), which every Nix command takes.

    Args:
      nixopts: a package's `nixopts`.

    Returns:
      True if the evaluation and the build of the package may both be given them.
    """
    if len(nixopts) % 3:
        return False
    for i in range(0, len(nixopts), 3):
        if nixopts[i] != "--option":
            return False
    return True

def _shares_evaluation(attrs):
    """Whether a package's attributes let it share its nixpkgs' evaluation."""
    for own in ["nix_file", "nix_file_content", "nix_file_deps"]:
        if attrs.get(own):
            return False
    return settings_only(attrs.get("nixopts") or [])

def _group_key(attrs):
    repositories = attrs.get("repositories") or {}
    return repr([
        attrs.get("store") or "output-base",
        sorted([(str(k), v) for k, v in repositories.items()]),
        attrs.get("nixopts") or [],
    ])

def _evaluation_name(key, repositories):
    """A repository name that depends only on what the group evaluates, not on its packages."""
    names = sorted([n for n in repositories.values()])
    return "{}{}_{}".format(_PREFIX, "_".join(names), str(hash(key)).replace("-", "m"))

def evaluation_group(attrs):
    """The shared evaluation a package's attributes let it join: struct(name, repositories, store, nixopts), or None.

    Args:
      attrs: the package repository rule's attributes (`repositories` as a dict from label to
        Nix search path name).

    Returns:
      The group (its repository's name depends only on what it evaluates), or None.
    """
    if not _shares_evaluation(attrs):
        return None
    key = _group_key(attrs)
    repositories = attrs.get("repositories") or {}
    return struct(
        name = _evaluation_name(key, repositories),
        repositories = repositories,
        store = attrs.get("store") or "output-base",
        nixopts = attrs.get("nixopts") or [],
    )

def plan_evaluations(packages):
    """Groups packages that can share one Nix evaluation.

    Args:
      packages: list of (name, attrs) pairs, attrs as the package repository rule takes them
        (`repositories` is a dict from label to Nix search path name).

    Returns:
      struct(evaluations, labels): `evaluations` lists struct(name, packages, repositories,
      store, nixopts) for nixpkgs_evaluation (packages: dict from package name to attribute path);
      `labels` maps each sharing package's name to its `evaluation`: the name of the
      nixpkgs_evaluation repository, whose `<package>.drv` it reads.
    """
    groups = {}
    for name, attrs in packages:
        group = evaluation_group(attrs)
        if not group:
            continue
        if group.name not in groups:
            groups[group.name] = struct(packages = {}, **{k: getattr(group, k) for k in ["name", "repositories", "store", "nixopts"]})
        groups[group.name].packages[name] = attrs.get("attribute_path") or name
    labels = {}
    for group in groups.values():
        for name in group.packages:
            labels[name] = group.name
    return struct(evaluations = groups.values(), labels = labels)

def _write(repository_ctx, drvs, note, pins = {}):
    repository_ctx.file("BUILD.bazel", "\n".join([
        "# {} (nixpkgs_evaluation)".format(REPOSITORY_HEADER),
        "# {}".format(note),
        "exports_files(glob([\"*.drv\", \"*.pin.json\"]), visibility = [\"//visibility:public\"])",
        "",
    ]))
    for name, drv in drvs.items():
        repository_ctx.file(name + ".drv", drv + "\n" if drv else "")
        repository_ctx.file(name + ".pin.json", json.encode(pins[name]) + "\n" if name in pins else "")
    write_workspace_file(repository_ctx)

def _parse_db(text):
    """Reads `nix-store --dump-db`: {path: struct(hash (hex), deriver, references)}."""
    lines = text.splitlines()
    db = {}
    i = 0
    for _ in range(len(lines)):
        if i + 4 >= len(lines):
            break
        path, nar_hash, deriver, count = lines[i], lines[i + 1], lines[i + 3], int(lines[i + 4])
        db[path] = struct(hash = nar_hash, deriver = deriver, references = lines[i + 5:i + 5 + count])
        i += 5 + count
    return db

def _closure_of(db, out):
    seen = {out: True}
    todo = [out]
    for _ in range(len(db) + 1):
        if not todo:
            break
        todo = [r for p in todo for r in db[p].references if r not in seen]
        for r in todo:
            seen[r] = True
    return sorted(seen.keys())

def _max_jobs(repository_ctx):
    """`--max-jobs auto` (one build per core), unless nixopts, NIX_CONFIG or a nix.conf sets max-jobs.

    Nix's own default is one build at a time, which leaves all but one core idle while a group's
    derivations build.
    """
    nixopts = repository_ctx.attr.nixopts
    names = [nixopts[i + 1] for i in range(0, len(nixopts) - 2, 3)]
    texts = [repository_ctx.os.environ.get("NIX_CONFIG", "")] + nix_config_files(repository_ctx).values()
    for text in texts:
        names.extend([line.split("=")[0].strip() for line in text.splitlines() if "=" in line])
    if "max-jobs" in names or "build-max-jobs" in names:
        return []
    return ["--max-jobs", "auto"]

def _realise_group(repository_ctx, nix_store, cache, drvs):
    """Builds every package's derivation in the machine cache with one `nix-store --realise`.

    Nix schedules the builds in parallel: one per core (`--max-jobs auto`), or as `max-jobs` of
    nixopts, `NIX_CONFIG` or nix.conf says. Three Nix processes for the whole group (the build, the closures, their
    registration) give each package what its fast path then brings in (fetch.bzl):
    {package: {"out": [path], "closure": {path: NAR hash}}}; {} where a build failed (each
    package then builds on its own, and Nix's message names the one at fault).
    """
    wanted = sorted({d: True for d in drvs.values() if d}.keys())
    if not wanted:
        return {}
    repository_ctx.report_progress("nix-store --realise: {} derivation(s) in one build".format(len(wanted)))
    result = run_nix(repository_ctx, [nix_store] + cache.args + _max_jobs(repository_ctx) + repository_ctx.attr.nixopts + ["--realise"] + wanted)

    # One output per argument, in their order (each names its output: "<drv>!out").
    outs = [line for line in result.stdout.splitlines() if line.startswith("/nix/store/")]
    if result.return_code != 0 or len(outs) != len(wanted):
        return {}
    query = run_nix(repository_ctx, [nix_store] + cache.args + ["--query", "--requisites"] + outs)
    paths = [line for line in query.stdout.splitlines() if line.startswith("/nix/store/")]
    dump = run_nix(repository_ctx, [nix_store] + cache.args + ["--dump-db"] + paths)
    if query.return_code != 0 or dump.return_code != 0:
        return {}
    db = _parse_db(dump.stdout)
    pins = {}
    for name, drv in drvs.items():
        if not drv:
            continue
        out = outs[wanted.index(drv)]
        if out not in db or db[out].deriver not in ["", drv.split("!")[0]]:
            return {}
        pins[name] = {"closure": {p: "sha256:" + nix_base32(db[p].hash) for p in _closure_of(db, out)}, "out": [out]}
    return pins

def _instantiate(repository_ctx, nix_instantiate, cache):
    """Runs the one nix-instantiate; returns {package: "<drv>!<output>"}, or None if it failed.

    The derivations go to the store the packages build in: the machine cache when it is on.
    """
    attr = repository_ctx.attr
    names = sorted(attr.packages.keys())
    argv = [nix_instantiate, "-E", _EXPRESSION]
    for name in names:
        argv.extend(["-A", attr.packages[name]])
    for label, nix_name in attr.repositories.items():
        argv.extend(["-I", "{}={}".format(nix_name, repository_ctx.path(label).dirname)])
    if cache:
        argv.extend(cache.args)
    elif attr.store != "system":
        argv.extend(["--store", store_root(repository_ctx)] + NIX_OPTIONS)
    argv.extend(attr.nixopts)
    repository_ctx.report_progress("nix-instantiate: {} package(s) in one evaluation".format(len(names)))
    result = run_nix(repository_ctx, argv)
    lines = [line for line in result.stdout.splitlines() if line.startswith("/nix/store/")]
    if result.return_code != 0 or len(lines) != len(names):
        return None

    # nix-instantiate leaves out "!out" (the output nix-build builds when none is selected).
    return {name: line if "!" in line else line + "!out" for name, line in zip(names, lines)}

def _nixpkgs_evaluation_impl(repository_ctx):
    attr = repository_ctx.attr
    for label in attr.repositories:
        repository_ctx.path(label)
    cache = machine_cache(repository_ctx) if attr.store != "system" else None
    nix, why_not = find_nix(repository_ctx, ["nix-instantiate", "nix-store"])
    empty = {name: "" for name in attr.packages}
    if why_not:
        _write(repository_ctx, empty, "No Nix here ({}): each package reports it.".format(why_not))
        return
    nix_instantiate = nix["nix-instantiate"]
    nix_store = nix["nix-store"]
    if cache:
        init_machine_cache(repository_ctx, cache, nix_store)
    elif attr.store != "system":
        init_store(repository_ctx, store_root(repository_ctx), nix_store)
    drvs = _instantiate(repository_ctx, nix_instantiate, cache)
    if drvs == None:
        # Each package evaluates on its own, and the one at fault reports Nix's message.
        _write(repository_ctx, empty, "The shared evaluation failed: each package evaluates on its own.")
        return
    pins = _realise_group(repository_ctx, nix_store, cache, drvs) if cache else {}
    _write(repository_ctx, drvs, "One evaluation of {} package(s){}.".format(len(drvs), ", built together" if pins else ""), pins)

nixpkgs_evaluation = repository_rule(
    implementation = _nixpkgs_evaluation_impl,
    attrs = {
        "nixopts": attr.string_list(
            doc = "The packages' `nixopts`: Nix settings only (`--option <name> <value>`).",
        ),
        "packages": attr.string_dict(
            mandatory = True,
            doc = "Package repository name to the attribute path it selects from `<nixpkgs>`.",
        ),
        "repositories": attr.label_keyed_string_dict(
            doc = "Nix search path entries, as the packages' `repositories` attribute has them.",
        ),
        "store": attr.string(
            default = "output-base",
            values = ["output-base", "system"],
            doc = "The packages' `store` attribute: where the derivations are written.",
        ),
    },
    environ = ["NIX_CONFIG", "NIX_PATH"],
    doc = "One `nix-instantiate` for the packages of one nixpkgs; writes `<package>.drv` for each (see `nixpkgs_packages`).",
)
