"""How a package builds: nix-build, or the realisation of the derivation its shared evaluation recorded; then its closure and the NAR hash of every path of it."""

load(":command.bzl", "command_failure")
load(":evaluation.bzl", "nixpkgs_expression")
load(":names.bzl", "apparent_name", "package_who", "sibling_file")
load(":nix_files.bzl", "lay_out_nix_files")
load(":store.bzl", "gc_root_argv", "run_nix", "run_nix_or_fail")

def _nix_build_argv(repository_ctx, inputs, nix_build, store_args, expression):
    attr = repository_ctx.attr
    argv = [nix_build]
    if expression:
        # The caller's own expression (a toolchain's), which laid out the Nix files it imports.
        argv.append(str(expression))
        attribute_path = attr.attribute_path or "(default)"
        return _with_search_path(repository_ctx, inputs, argv + store_args), attribute_path

    # nix_file and nix_file_deps are evaluated from their layout in the repository (see
    # nix_files.bzl), so that only declared files are visible and relative imports resolve.
    nix_file_at = lay_out_nix_files(repository_ctx, "_nixstore/src", inputs.nix_file, inputs.deps).nix_file
    if nix_file_at:
        argv.append(str(repository_ctx.path(nix_file_at)))
        attribute_path = attr.attribute_path
    elif attr.nix_file_content:
        repository_ctx.file("_nixstore/src/default.nix", attr.nix_file_content)
        argv.append(str(repository_ctx.path("_nixstore/src/default.nix")))
        attribute_path = attr.attribute_path
    else:
        argv.extend(["-E", nixpkgs_expression()])
        attribute_path = attr.attribute_path or apparent_name(repository_ctx)
    if attribute_path:
        argv.extend(["-A", attribute_path])
    return _with_search_path(repository_ctx, inputs, argv + store_args), attribute_path

def _with_search_path(repository_ctx, inputs, argv):
    """`argv` with the repositories' `-I`, the out-link and the rule's nixopts."""
    for name, path in inputs.repositories:
        argv.extend(["-I", "{}={}".format(name, path.dirname)])
    argv.extend(["--out-link", str(repository_ctx.path("_nixstore/result"))])
    argv.extend(repository_ctx.attr.nixopts)
    return argv

def add_result_roots(repository_ctx, nix_store, store_args, outputs, what):
    """Makes the repository's `_nixstore/result*` links garbage collector roots of the outputs.

    Args:
      repository_ctx: the repository context.
      nix_store: path of the `nix-store` command.
      store_args: the `--store <root>` and option arguments of the store that holds the outputs.
      outputs: the package's output paths.
      what: what the outputs are, for the message when this fails (e.g. "pinned outputs").
    """
    run_nix_or_fail(
        repository_ctx,
        gc_root_argv(repository_ctx, nix_store, store_args, outputs),
        "registering the {} as garbage collector roots failed".format(what),
        who = package_who(repository_ctx),
    )

def _shared_derivation(repository_ctx, root):
    """The derivation that the package's shared evaluation recorded ("<drv>!<output>"), or None.

    None when the package has no shared evaluation, when that evaluation failed (the package then
    evaluates on its own, so that Nix's message names it), or when the derivation has left the
    store since (a garbage collection).
    """
    evaluation = repository_ctx.attr.evaluation
    if not evaluation:
        return None
    drv = repository_ctx.read(sibling_file(repository_ctx, evaluation, apparent_name(repository_ctx) + ".drv")).strip()
    if not drv or not repository_ctx.path(root + drv.split("!")[0]).exists:
        return None
    return drv

def _build_command(repository_ctx, inputs, nix_build, nix_store, store_args, drv, expression):
    """How the package builds: struct(argv, what (for messages), attribute_path, progress)."""
    if not drv:
        argv, attribute_path = _nix_build_argv(repository_ctx, inputs, nix_build, store_args, expression)
        shown = attribute_path or "(default)"
        return struct(argv = argv, what = "nix-build", attribute_path = shown, progress = "nix-build " + shown)
    attribute_path = repository_ctx.attr.attribute_path or apparent_name(repository_ctx)
    return struct(
        argv = [nix_store] + store_args + repository_ctx.attr.nixopts + ["--realise", drv],
        what = "nix-store --realise " + drv,
        attribute_path = attribute_path,
        progress = "nix-store --realise {} (evaluated with its nixpkgs)".format(attribute_path),
    )

def _realise(repository_ctx, inputs, nix_build, nix_store, store_args, root, expression):
    """Builds the package: realises its shared evaluation's derivation, or runs nix-build."""
    drv = _shared_derivation(repository_ctx, root)
    command = _build_command(repository_ctx, inputs, nix_build, nix_store, store_args, drv, expression)
    repository_ctx.report_progress(command.progress)
    result = run_nix_or_fail(
        repository_ctx,
        command.argv,
        "{} failed for attribute_path '{}'".format(command.what, command.attribute_path),
        who = package_who(repository_ctx),
        quiet = repository_ctx.attr.quiet,
    )
    outputs = [line for line in result.stdout.splitlines() if line.startswith("/nix/store/")]
    if not outputs:
        fail(command_failure(package_who(repository_ctx), command.what + " printed no store path", command.argv, result, said = "Nix said"))
    if drv:
        add_result_roots(repository_ctx, nix_store, store_args, outputs, "outputs")
    return outputs

def build_package(repository_ctx, inputs, nix_build, nix_store, store_args, root, expression = None):
    """Builds the package: realises its shared evaluation's derivation, or runs nix-build.

    Args:
      repository_ctx: the repository context.
      inputs: the resolved inputs (see package.bzl's resolve_inputs).
      nix_build: path of the `nix-build` command.
      nix_store: path of the `nix-store` command.
      store_args: the `--store <root>` and option arguments of the store that builds.
      root: that store's root ("" for the host's store).
      expression: a `.nix` file that nix-build builds instead of what the rule's attributes
        select (a toolchain's), or None.

    Returns:
      (outputs, closure, NAR hash of each closure path): the output paths Nix printed, every
      store path of their runtime closure (sorted), and a dict from closure path to NAR hash.
    """
    outputs = _realise(repository_ctx, inputs, nix_build, nix_store, store_args, root, expression)
    out = outputs[-1]

    repository_ctx.report_progress("closure of {}".format(out))
    argv = [nix_store] + store_args + ["--query", "--requisites", out]
    result = run_nix_or_fail(repository_ctx, argv, "nix-store --query --requisites {} failed".format(out), who = package_who(repository_ctx))
    closure = sorted([line for line in result.stdout.splitlines() if line.startswith("/nix/store/")])
    argv = [nix_store] + store_args + ["--query", "--hash"] + closure
    result = run_nix(repository_ctx, argv)
    hashes = result.stdout.splitlines()
    if result.return_code != 0 or len(hashes) != len(closure):
        fail(command_failure(package_who(repository_ctx), "nix-store --query --hash failed for the closure of " + out, argv, result, said = "Nix said"))
    return outputs, closure, {path: hash for path, hash in zip(closure, hashes)}
