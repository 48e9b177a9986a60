"""nixpkgs_package: a Nix package, its whole runtime closure and launchers, as a Bazel repository."""

load(":attrs.bzl", "PACKAGE_ATTRS", "PACKAGE_DOC")
load(":binary_cache.bzl", "download_locked_closure")
load(":constants.bzl", "REPOSITORY_HEADER")
load(":enter.bzl", "enter_binaries")
load(":fetch.bzl", "evaluation_key", "fetch_pinned", "group_pin", "read_evaluation", "write_evaluation")
load(
    ":lock.bzl",
    "LOCK_ENV",
    "check_built",
    "check_pinned",
    "inputs_manifest",
    "lock_update_requested",
    "manifest_digest",
    "read_lock_entry",
    "write_record",
)
load(":machine_cache.bzl", "import_closure", "import_pinned", "init_machine_cache", "machine_cache")
load(":names.bzl", "label_string", "package_who", "write_workspace_file")
load(":package_build.bzl", "add_result_roots", "build_package")
load(":package_contents.bzl", "lay_out_package", "plan_layout")
load(":remote_closure.bzl", "lay_out_remote_closure")
load(":store.bzl", "NIX_OPTIONS", "find_nix", "init_store", "store_root")

def repositories_by_label(what, repository, repositories):
    """The `repositories` attribute of the rule from the macro's (or tag's) readable form.

    Args:
      what: names the caller in messages, e.g. `nixpkgs_package(name = "jq")`.
      repository: a nixpkgs repository label, or None: `repositories = {"nixpkgs": repository}`.
      repositories: dict from a Nix search path name to a repository label; `@repo` alone
        means that repository's marker file `@repo//:nixpkgs`.

    Returns:
      A dict from label to Nix search path name.
    """
    if repository and repositories:
        fail("{}: set repository or repositories, not both.".format(what))
    if repository:
        repositories = {"nixpkgs": repository}
    by_label = {}
    for nix_name, label in repositories.items():
        # "@nixpkgs" means the repository: its marker file //:nixpkgs (whatever its name).
        if type(label) == "string" and label.startswith("@") and "//" not in label:
            label = label + "//:nixpkgs"
        if label in by_label:
            fail("{}: repositories maps both '{}' and '{}' to {}; give each label one name.".format(
                what,
                by_label[label],
                nix_name,
                label,
            ))
        by_label[label] = nix_name
    return by_label

def _fail(repository_ctx, message):
    fail("{}: {}".format(package_who(repository_ctx), message))

def _not_supported(repository_ctx, reason):
    if repository_ctx.attr.fail_not_supported:
        _fail(repository_ctx, reason + "\n  Install Nix (Debian: apt-get install nix-bin), or set fail_not_supported = False to get an empty repository instead.")
    write_workspace_file(repository_ctx)
    repository_ctx.file("BUILD.bazel", "# {} (nixpkgs_package)\n# Empty: {}\n".format(REPOSITORY_HEADER, reason))

def resolve_inputs(repository_ctx, **extra):
    """Resolves every label of the rule before the first command runs, so Bazel never restarts it after Nix.

    Args:
      repository_ctx: the repository context of a nixpkgs_package (or toolchain) repository.
      **extra: more resolved inputs of the caller, kept in the result.

    Returns:
      struct(nix_file, deps, repositories, build_file, lock, enter_binaries, executable_bzl,
      **extra): (label, path) pairs of the Nix files, (search path name, path) pairs of the
      repositories, paths of the other files.
    """
    attr = repository_ctx.attr
    build_file = getattr(attr, "build_file", None)
    return struct(
        nix_file = (attr.nix_file, repository_ctx.path(attr.nix_file)) if attr.nix_file else None,
        deps = [(d, repository_ctx.path(d)) for d in attr.nix_file_deps],
        repositories = [(name, repository_ctx.path(label)) for label, name in attr.repositories.items()],
        build_file = repository_ctx.path(build_file) if build_file else None,
        lock = repository_ctx.path(attr.lock) if attr.lock else None,
        enter_binaries = enter_binaries(repository_ctx),
        executable_bzl = label_string(Label("//rules/private:executable.bzl")),
        **extra
    )

def _validate(repository_ctx):
    attr = repository_ctx.attr
    if attr.build_file and attr.build_file_content:
        _fail(repository_ctx, "set build_file or build_file_content, not both.")
    if attr.nix_file and attr.nix_file_content:
        _fail(repository_ctx, "set nix_file or nix_file_content, not both.")
    if attr.repository:
        _fail(repository_ctx, "the repository attribute is folded into repositories by the nixpkgs_package macro; load nixpkgs_package from @rules_nixstore//rules:defs.bzl.")

def _stores(repository_ctx, cache):
    """The stores of the fetch: struct(root, output_base_args, build_args, build_root).

    `root` is the output base's store ("" for the host's store), `output_base_args` the
    `--store` and option arguments of Nix commands against it. `build_args` and `build_root`
    are those of the store that evaluates and builds: the machine cache's when it is on, whose
    closure is then brought into the output base's store (machine_cache.bzl).
    """
    if repository_ctx.attr.store == "system":
        # The host's store, as the host's Nix configuration defines it (maybe through a daemon).
        root = ""
        args = []
    else:
        root = store_root(repository_ctx)
        args = ["--store", root] + NIX_OPTIONS
    return struct(
        root = root,
        output_base_args = args,
        build_args = cache.args if cache else args,
        build_root = cache.root if cache else root,
    )

def _lock_entry(repository_ctx, inputs):
    """The lock file's entry for this package, or None (no lock, `nixgen lock` is recording, or no pin)."""
    if inputs.lock and not lock_update_requested(repository_ctx):
        return read_lock_entry(repository_ctx, inputs.lock, repository_ctx.attr.lock)
    return None

def _init_stores(repository_ctx, stores, cache, nix_store):
    if stores.root:
        init_store(repository_ctx, stores.root, nix_store)
    if cache:
        init_machine_cache(repository_ctx, cache, nix_store)

def _from_lock(repository_ctx, entry, nix_store, stores, cache):
    """The pinned build, struct(outputs, closure, hashes), when the stores hold it; else None."""
    repository_ctx.report_progress("verifying the {} store paths pinned by the lock file".format(len(entry.closure)))
    pinned = check_pinned(repository_ctx, entry, nix_store, stores.output_base_args, stores.root + "/nix/store")
    if not pinned and cache:
        pinned = import_pinned(repository_ctx, cache, nix_store, stores.root, entry)
    if not pinned:
        return None

    # No evaluation: the lock names the outputs and their closure, and the store holds them.
    add_result_roots(repository_ctx, nix_store, stores.output_base_args, entry.out, "pinned outputs")
    return struct(outputs = entry.out, closure = sorted(entry.closure.keys()), hashes = entry.closure)

def _build(repository_ctx, inputs, nix, stores, cache, entry, expression):
    """Builds the package into the output base's store (through the machine cache when it is on); checks it against the lock's entry."""
    nix_build = nix["nix-build"]
    nix_store = nix["nix-store"]
    outputs, closure, hashes = build_package(repository_ctx, inputs, nix_build, nix_store, stores.build_args, stores.build_root, expression)
    if cache and not import_closure(repository_ctx, cache, nix_store, stores.root, outputs, closure):
        outputs, closure, hashes = build_package(repository_ctx, inputs, nix_build, nix_store, stores.output_base_args, stores.root, expression)
    if entry:
        check_built(repository_ctx, entry, repository_ctx.attr.lock, outputs, hashes)
    return struct(outputs = outputs, closure = closure, hashes = hashes)

def obtain_closure(repository_ctx, inputs, not_supported, expression = None):
    """Brings the package's closure into the output base's store: from the machine cache, or built.

    A lock that records a binary cache for every path of the closure has it downloaded, with no
    Nix command (binary_cache.bzl). Where the lock (or the machine's evaluation cache) pins the
    closure and the machine cache holds it, one process brings it in (fetch.bzl). Otherwise Nix
    builds (or takes what the lock pins) into the machine cache or the output base's store.
    Either way the build is recorded for `nixgen lock` and the closure's layout planned; laying
    it out is the caller's.

    Args:
      repository_ctx: the repository context of a nixpkgs_package (or toolchain) repository.
      inputs: the result of `resolve_inputs`.
      not_supported: called with (repository_ctx, reason) where Nix cannot run; it fails or
        writes an empty repository.
      expression: a `.nix` file of the repository that nix-build builds instead of what the
        rule's `nix_file`, `nix_file_content` and `attribute_path` select, or None.

    Returns:
      struct(root, outputs, closure, plan, scan): the store's root ("" for the host's), the
      output paths (the last is the package), every store path of the closure (sorted), the plan
      of `plan_layout`, and the closure's scan of the fast path (None after a build); None when
      `not_supported` was called.
    """
    downloaded = download_locked_closure(repository_ctx, inputs, expression)
    if downloaded:
        return downloaded
    cache = machine_cache(repository_ctx) if repository_ctx.attr.store != "system" else None
    nix, why_not = find_nix(repository_ctx, ["nix-build", "nix-store"])
    manifest = inputs_manifest(repository_ctx, inputs, repository_ctx.attr.store, expression)
    key = evaluation_key(repository_ctx, manifest, nix) if cache else None
    known = read_evaluation(repository_ctx, cache, key)

    # The evaluation cache's entry of these very inputs holds their digest: no SHA-256 then.
    digest = known.inputs if known else manifest_digest(repository_ctx, manifest)
    entry = _lock_entry(repository_ctx, inputs)
    pinned = entry if entry and entry.inputs == digest else None

    # The fast path: no Nix process where the machine cache holds what the lock (or the machine's
    # evaluation cache) pins. See fetch.bzl.
    pin = pinned or known
    grouped = None
    if cache and not pin and not expression:
        # Built by the shared evaluation of its nixpkgs, together with the other packages.
        grouped = group_pin(repository_ctx)
    if cache and (pin or grouped):
        root = store_root(repository_ctx)
        fast = fetch_pinned(repository_ctx, inputs, cache, root, pin or grouped, from_lock = pinned != None)
        if fast:
            if entry and not pinned:
                # A lock that pins other inputs: as after a build, say so.
                check_built(repository_ctx, entry, repository_ctx.attr.lock, fast.outputs, fast.hashes)
            if grouped:
                write_evaluation(repository_ctx, cache, key, digest, fast.outputs, fast.hashes)
            plan = plan_layout(repository_ctx, root, fast.closure, fast.scan)
            write_record(repository_ctx, digest, fast.outputs, fast.hashes)
            return struct(root = root, outputs = fast.outputs, closure = fast.closure, plan = plan, scan = fast.scan)

    if why_not:
        not_supported(repository_ctx, why_not)
        return None
    stores = _stores(repository_ctx, cache)
    _init_stores(repository_ctx, stores, cache, nix["nix-store"])
    built = None
    if pinned:
        built = _from_lock(repository_ctx, entry, nix["nix-store"], stores, cache)
    if built == None:
        built = _build(repository_ctx, inputs, nix, stores, cache, entry, expression)
        if cache:
            write_evaluation(repository_ctx, cache, key, digest, built.outputs, built.hashes)
    plan = plan_layout(repository_ctx, stores.root, built.closure)
    write_record(repository_ctx, digest, built.outputs, built.hashes)
    return struct(root = stores.root, outputs = built.outputs, closure = built.closure, plan = plan, scan = None)

def _nixpkgs_package_impl(repository_ctx):
    _validate(repository_ctx)
    inputs = resolve_inputs(repository_ctx)
    if repository_ctx.attr.remote_build:
        lay_out_remote_closure(repository_ctx, inputs)
        return
    got = obtain_closure(repository_ctx, inputs, _not_supported)
    if got:
        lay_out_package(repository_ctx, inputs, got.root, got.outputs, got.closure, got.plan, got.scan)

nixpkgs_package_rule = repository_rule(
    implementation = _nixpkgs_package_impl,
    attrs = PACKAGE_ATTRS,
    doc = PACKAGE_DOC,
    environ = ["NIX_CONFIG", "NIX_PATH", LOCK_ENV],
)
