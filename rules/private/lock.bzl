"""The lock file of `nixgen lock`: what a package repository pins, and how a fetch checks it.

The lock (`nixstore.lock.json` at the workspace root) maps each package repository's name to

    {"inputs": "<digest>", "out": ["/nix/store/...-x"], "closure": {"/nix/store/...": "sha256:..."}}

where `inputs` is a digest of everything the Nix evaluation depends on (see `inputs_digest`),
`out` are the paths nix-build printed and `closure` holds the NAR hash of every store path of the
runtime closure. Each fetch writes the same record for its own repository to
`_nixstore/lock.json`; `nixgen lock` collects those records into the lock file.
"""

load(":command.bzl", "execute_or_fail")
load(":constants.bzl", "LOCK_VERSION", "RECORD_PATH", _LOCK_ENV = "LOCK_ENV")
load(":names.bzl", "apparent_name", "package_who", "portable_label")
load(":sha256.bzl", "text_sha256")
load(":store_path.bzl", "is_store_path")

# Environment variable read by nixpkgs_package: "update" makes it ignore the lock's pins and
# record afresh (`nixgen lock` sets it with --repo_env). constants.bzl's, named here for the
# rules that declare it in their `environ`.
LOCK_ENV = _LOCK_ENV

def _fail(repository_ctx, message):
    fail("{}: {}".format(package_who(repository_ctx), message))

def _getenv(repository_ctx, name):
    # Bazel 4 has no repository_ctx.getenv; the variable is declared in the rule's environ.
    if hasattr(repository_ctx, "getenv"):
        return repository_ctx.getenv(name)
    return repository_ctx.os.environ.get(name)

def lock_update_requested(repository_ctx):
    """Whether this fetch must ignore the lock's pins (nixgen lock is recording).

    Args:
      repository_ctx: the repository context.

    Returns:
      True when RULES_NIXSTORE_LOCK=update.
    """
    return _getenv(repository_ctx, LOCK_ENV) == "update"

def read_lock_entry(repository_ctx, lock_path, lock_label):
    """Reads the lock file and returns this repository's entry, or None if it pins nothing here.

    Args:
      repository_ctx: the repository context.
      lock_path: the lock file's path.
      lock_label: the lock file's label, for messages.

    Returns:
      A struct(inputs, out, closure) or None.
    """
    text = repository_ctx.read(lock_path)
    what = "the lock file {} ({})".format(lock_label, lock_path)
    if not text.strip().startswith("{"):
        _fail(repository_ctx, "{} is not a JSON object; regenerate it with `nixgen lock`.".format(what))
    lock = json.decode(text)
    if type(lock) != "dict" or lock.get("version") != LOCK_VERSION:
        _fail(repository_ctx, "{} has version {}, this rules_nixstore reads version {}; regenerate it with `nixgen lock`.".format(
            what,
            lock.get("version") if type(lock) == "dict" else None,
            LOCK_VERSION,
        ))
    name = apparent_name(repository_ctx)
    entry = lock.get("packages", {}).get(name)
    if entry == None:
        return None
    out = entry.get("out") if type(entry) == "dict" else None
    closure = entry.get("closure") if type(entry) == "dict" else None
    if type(out) != "list" or not out or type(closure) != "dict" or not closure or type(entry.get("inputs")) != "string":
        _fail(repository_ctx, "{}: its entry for \"{}\" lacks inputs, out or closure; regenerate it with `nixgen lock`.".format(what, name))
    for path in out + closure.keys():
        if not is_store_path(path):
            _fail(repository_ctx, "{}: its entry for \"{}\" names {}, which is not a store path; regenerate it with `nixgen lock`.".format(what, name, repr(path)))
    return struct(inputs = entry["inputs"], out = out, closure = closure)

def _portable_marker(text):
    # A repository marker (see nixpkgs_repository.bzl) holds `sha256sum` lines "<hash>  <path>";
    # the paths differ between machines and output bases, the hashes do not.
    return [line.split(" ")[0] for line in text.splitlines() if line.strip()]

def inputs_manifest(repository_ctx, inputs, store, expression = None):
    """The text whose SHA-256 is the package's inputs digest: everything its Nix evaluation depends on.

    Args:
      repository_ctx: the repository context.
      inputs: the resolved inputs (see package.bzl's resolve_inputs).
      store: the store attribute ("output-base" or "system").
      expression: the `.nix` file nix-build builds instead of what the attributes select (a
        toolchain's), or None; the files of its directory are part of the digest.

    Returns:
      A JSON text, equal on every machine for the same inputs.
    """
    attr = repository_ctx.attr
    files = ([inputs.nix_file] if inputs.nix_file else []) + inputs.deps
    hashes = {}
    if files:
        argv = ["sha256sum", "--"] + [str(path) for _, path in files]
        result = execute_or_fail(repository_ctx, argv, "cannot hash its Nix files", who = package_who(repository_ctx))
        lines = result.stdout.splitlines()
        for (label, _), line in zip(files, lines):
            hashes[portable_label(label)] = line.split(" ")[0]
    fields = {}
    if expression:
        fields["expression"] = {f.basename: repository_ctx.read(f) for f in expression.dirname.readdir()}
    return json.encode(dict(fields, **{
        "attribute_path": attr.attribute_path,
        "files": hashes,
        "name": apparent_name(repository_ctx),
        "nix_file_content": attr.nix_file_content,
        "nixopts": attr.nixopts,
        "repositories": {name: _portable_marker(repository_ctx.read(path)) for name, path in inputs.repositories},
        "store": store,
    })) + "\n"

def manifest_digest(repository_ctx, manifest):
    """The inputs digest of a manifest (inputs_manifest): its SHA-256, computed without a process.

    Args:
      repository_ctx: the repository context.
      manifest: the result of inputs_manifest.

    Returns:
      "sha256:<hex>".
    """
    return "sha256:" + text_sha256(repository_ctx, manifest, "_nixstore/inputs.json")

def inputs_digest(repository_ctx, inputs, store, expression = None):
    """A digest of everything the package's Nix evaluation depends on, equal on every machine.

    Args:
      repository_ctx: the repository context.
      inputs: the resolved inputs (see package.bzl's resolve_inputs).
      store: the store attribute ("output-base" or "system").
      expression: as for inputs_manifest.

    Returns:
      "sha256:<hex>".
    """
    return manifest_digest(repository_ctx, inputs_manifest(repository_ctx, inputs, store, expression))

def check_pinned(repository_ctx, entry, nix_store, store_args, store_files):
    """Checks that the pinned closure is in the store with the pinned content.

    Fails naming the store path when a path is there but its content or NAR hash differs from
    the pin (a modified store); returns False when a path is missing (the caller builds).

    Args:
      repository_ctx: the repository context.
      entry: this repository's lock entry.
      nix_store: the nix-store command.
      store_args: the `--store <root>` and option arguments of every Nix command.
      store_files: directory holding the store's files ("<root>/nix/store" or "/nix/store").

    Returns:
      True when every pinned path is present and verified.
    """
    paths = sorted(entry.closure.keys())
    for path in paths:
        if not repository_ctx.path(store_files + path[len("/nix/store"):]).exists:
            return False
    result = repository_ctx.execute([nix_store] + store_args + ["--query", "--hash"] + paths)
    if result.return_code != 0:
        # present as files but unknown to the store's database: build them again
        return False
    known = result.stdout.splitlines()
    if len(known) != len(paths):
        _fail(repository_ctx, "nix-store --query --hash printed {} hashes for {} paths:\n{}".format(len(known), len(paths), result.stdout))
    for path, hash in zip(paths, known):
        if hash != entry.closure[path]:
            _fail(repository_ctx, "\n".join([
                "the store holds {} with NAR hash {}, but the lock file pins {}.".format(path, hash, entry.closure[path]),
                "  The store's copy was built differently (a build that is not reproducible, or a modified store).",
                "  If the store's copy is the one you want, run `nixgen lock` to pin it; otherwise delete it",
                "  (nix-store{} --delete {}) and fetch again.".format(_store_flag(store_args), path),
            ]))
    result = repository_ctx.execute([nix_store] + store_args + ["--verify-path"] + paths, timeout = 3600)
    if result.return_code != 0:
        modified = [line for line in result.stderr.splitlines() if "was modified" in line]
        _fail(repository_ctx, "\n".join([
            "a store path pinned by the lock file was modified after it was built:",
        ] + ["  " + line for line in (modified or [result.stderr.strip()])] + [
            "  Restore it with: nix-store{} --repair-path <path>".format(_store_flag(store_args)),
            "  or delete the store{} and fetch again.".format(
                " (" + store_files[:-len("/nix/store")] + ")" if store_files != "/nix/store" else "",
            ),
        ]))
    return True

def _store_flag(store_args):
    if store_args and store_args[0] == "--store":
        return " --store " + store_args[1]
    return ""

def check_built(repository_ctx, entry, lock_label, outputs, closure_hashes):
    """After a build: fails when the lock pins other paths or other content than what was built.

    Args:
      repository_ctx: the repository context.
      entry: this repository's lock entry.
      lock_label: the lock file's label, for messages.
      outputs: the store paths nix-build printed.
      closure_hashes: dict from closure path to NAR hash, as built.
    """
    if outputs != entry.out:
        _fail(repository_ctx, "\n".join([
            "nix-build produced {}, but the lock file {} pins {}.".format(", ".join(outputs), lock_label, ", ".join(entry.out)),
            "  The package's inputs changed since it was locked. Run `nixgen lock` to update the lock file",
            "  (or revert the change), and commit the lock file.",
        ]))
    differ = [p for p in sorted(closure_hashes.keys()) if p in entry.closure and entry.closure[p] != closure_hashes[p]]
    if differ:
        _fail(repository_ctx, "\n".join([
            "these store paths were built with other content than the lock file {} pins:".format(lock_label),
        ] + ["  {}: built {}, pinned {}".format(p, closure_hashes[p], entry.closure[p]) for p in differ] + [
            "  Their builds are not reproducible. Run `nixgen lock` to pin this build, and commit the lock file.",
        ]))

def write_record(repository_ctx, digest, outputs, closure_hashes):
    """Writes `_nixstore/lock.json`: what this repository holds, for `nixgen lock` to collect.

    Args:
      repository_ctx: the repository context.
      digest: the inputs digest.
      outputs: the store paths nix-build printed (or the lock pinned).
      closure_hashes: dict from closure path to NAR hash.
    """
    repository_ctx.file(RECORD_PATH, json.encode({
        "closure": closure_hashes,
        "inputs": digest,
        "name": apparent_name(repository_ctx),
        "out": outputs,
        "version": LOCK_VERSION,
    }) + "\n")
