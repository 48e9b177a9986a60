"""The fast path of a fetch: a pinned closure that the machine cache holds, in one process.

When the lock pins a package (its inputs digest matches), or the machine's evaluation cache knows
the outputs of these very inputs, and the machine cache holds every path of the closure, the
package needs no Nix at all: `enter --import` (nixstore_enter.c) checks each path the output
base's store lacks against its pinned NAR hash, hard-links it in, makes the repository's result
links garbage collector roots of both stores, and scans the closure for the layout. That is the
fetch's one process; everything else is Starlark.

What is checked when:
- a path's NAR hash, when it comes into an output base from the machine cache (the first fetch
  after `clean --expunge`, or in a new output base): a modified cache copy is refused, and the
  package takes Nix's way, which repairs it (machine_cache.bzl);
- every path already in the output base's store, on every fetch of a package that uses it, as
  Nix's `--verify-path` did before: a modified file fails the fetch, naming the path. The NAR
  hash is skipped where this output base verified the path before and no file of it changed
  since (inode, size, mode and change time, stamped by enter: nixstore_enter.c);
- paths brought in this way are not registered in the output base store's database:
  `nixgen gc` registers them from the machine cache's before it collects.

The evaluation cache (`<machine cache>/rules_nixstore/evaluations/<length>-<hash>-<hash>.json`,
named by 32-bit hashes of the key's two parts, which the entry holds whole) records, after a
package was built with the machine cache on, its outputs and closure under a key of everything
its evaluation may read that rules_nixstore knows: the inputs digest (attribute path, Nix
files, the nixpkgs repositories' file hashes, nixopts, store), the operating system and
architecture, the Nix commands' real paths (and the version a distribution's pkg-config file
names), the nix.conf files Nix reads, and `NIX_PATH` and `NIX_CONFIG`. It trusts, as a lock file does, that an evaluation
reads nothing else: an expression that reads an undeclared file or environment variable is not
evaluated again when that changes. `--repo_env=RULES_NIXSTORE_EVALUATION_CACHE=off` turns it off;
changing any input of the key, or a path leaving the machine cache, evaluates again. An entry
also holds the inputs digest of its inputs' text, so a package it pins needs no SHA-256 of its
own (on Bazel 4.2.3, ~0.08 s of Starlark each): the machine cache is trusted for it as it is for
the outputs the entry names.
"""

load(":command.bzl", "command_failure")
load(":enter.bzl", "enter_for_host", "host_arch")
load(":layout.bzl", "parse_scan", "runfiles_hold_spaces")
load(":machine_cache.bzl", "note_copied")
load(":names.bzl", "apparent_name", "package_who", "sibling_file")
load(":sha256.bzl", "text_sha256")
load(":store.bzl", "nix_config_files")

# The environment variable that turns the evaluation cache off ("off").
EVALUATION_CACHE_ENV = "RULES_NIXSTORE_EVALUATION_CACHE"

_EVALUATIONS = "rules_nixstore/evaluations"

def evaluation_key(repository_ctx, manifest, nix):
    """The evaluation cache's key of a package's evaluation: see above.

    Args:
      repository_ctx: the repository context.
      manifest: the text of the package's inputs (lock.bzl's inputs_manifest), whose SHA-256 is
        its inputs digest.
      nix: the Nix commands found on PATH (name to path), or None where Nix is missing.

    Returns:
      struct(manifest, context, file), or None when the cache is off.
    """
    env = repository_ctx.os.environ
    if env.get(EVALUATION_CACHE_ENV, "") == "off":
        return None
    context = json.encode({
        "arch": host_arch(repository_ctx),
        "config": nix_config_files(repository_ctx),
        "nix": _nix_identity(repository_ctx, nix),
        "NIX_CONFIG": env.get("NIX_CONFIG", ""),
        "NIX_PATH": env.get("NIX_PATH", ""),
        "os": [repository_ctx.os.name],
    })
    name = "{}-{}-{}.json".format(len(manifest), hash(manifest) & 0xffffffff, hash(context) & 0xffffffff)
    return struct(manifest = manifest, context = context, file = "{}/{}".format(_EVALUATIONS, name))

def _nix_identity(repository_ctx, nix):
    """What tells this Nix from another without running it.

    The commands' real paths: a Nix installed by Nix (its installer, NixOS, a profile) lives in a
    store path named with its version. A distribution's Nix at /usr/bin is told by the version
    its pkg-config file (Debian's lib/nix/pkgconfig/nix-expr.pc) names, where there is one.
    """
    if not nix:
        return {}
    identity = {}
    for name, path in nix.items():
        real = repository_ctx.path(path).realpath
        identity[name] = str(real)
        pc = repository_ctx.path("{}/../../lib/nix/pkgconfig/nix-expr.pc".format(real))
        if pc.exists:
            identity[name + ".pc"] = repository_ctx.read(pc)
    return identity

def read_evaluation(repository_ctx, cache, key):
    """The evaluation cache's entry of `key`: struct(out, closure), or None.

    Args:
      repository_ctx: the repository context.
      cache: the machine cache (machine_cache.bzl).
      key: the result of evaluation_key, or None.

    Returns:
      struct(out = [output paths], closure = {path: NAR hash}, inputs = the inputs digest), or
      None (no entry, or one of other inputs or another context whose hashes are the same).
    """
    if not key:
        return None
    path = repository_ctx.path("{}/{}".format(cache.root, key.file))
    if not path.exists:
        return None
    entry = json.decode(repository_ctx.read(path))
    if entry.get("manifest") != key.manifest or entry.get("context") != key.context:
        return None
    return struct(out = entry["out"], closure = entry["closure"], inputs = entry["inputs"])

def write_evaluation(repository_ctx, cache, key, digest, outputs, hashes):
    """Records a build in the evaluation cache (a slow-path step: one more process there).

    The file is written in the repository, then copied into the cache under a fresh name and
    renamed into place, so a reader sees a whole entry or none.

    Args:
      repository_ctx: the repository context.
      cache: the machine cache.
      key: the result of evaluation_key, or None (nothing is recorded).
      digest: the package's inputs digest (the SHA-256 of key.manifest).
      outputs: the output paths.
      hashes: dict from closure path to NAR hash.
    """
    if not key:
        return
    repository_ctx.file("_nixstore/evaluation.json", json.encode({"closure": hashes, "context": key.context, "inputs": digest, "manifest": key.manifest, "out": outputs}) + "\n")
    dest = "{}/{}".format(cache.root, key.file)
    argv = ["/bin/sh", "-c", 'mkdir -p "${2%/*}" && cp "$1" "$2.$$" && mv -f "$2.$$" "$2"', "record", str(repository_ctx.path("_nixstore/evaluation.json")), dest]
    result = repository_ctx.execute(argv)
    if result.return_code != 0:
        # The cache is an optimisation: say so, and go on.
        # buildifier: disable=print
        print(command_failure(package_who(repository_ctx), "recording the evaluation in the machine cache failed (the next fetch evaluates again)", argv, result))

def group_pin(repository_ctx):
    """What the package's shared evaluation built for it (evaluation.bzl): struct(out, closure), or None.

    Reading it fetches the shared evaluation: only a package that has no other pin asks.

    Args:
      repository_ctx: the repository context of a package with `evaluation` set.

    Returns:
      struct(out, closure), or None (no shared evaluation, or it built nothing for this package).
    """
    evaluation = getattr(repository_ctx.attr, "evaluation", "")
    if not evaluation:
        return None
    text = repository_ctx.read(sibling_file(repository_ctx, evaluation, apparent_name(repository_ctx) + ".pin.json")).strip()
    if not text:
        return None
    pin = json.decode(text)
    return struct(out = pin["out"], closure = pin["closure"], inputs = None)

def _fail_modified(repository_ctx, cache, root, message, from_lock):
    """Fails on enter's exit 5: a path the output base holds is not what was pinned."""

    # enter says: path '/nix/store/<entry>' was modified! expected hash '...', got '...'
    parts = message.split("'")
    path = parts[1] if len(parts) >= 3 else "/nix/store/<path>"
    repair = [
        "    nix-store --store {} --repair-path {}".format(cache.root, path),
        "    chmod -R u+w {0}{1} && rm -rf {0}{1}".format(root, path),
    ]
    if from_lock and len(parts) >= 7:
        fail("\n".join([
            "{}: the store holds {} with NAR hash {}, but the lock file pins {}.".format(package_who(repository_ctx), path, parts[5], parts[3]),
            "  enter: " + message,
            "  Either the lock pins another build (an edited lock, or a build that is not reproducible):",
            "  run `nixgen lock` to pin what is built; or the output base's copy, a hard link of the",
            "  machine cache's, was modified: repair the cache's copy, remove the output base's, and fetch again:",
        ] + repair))
    fail("\n".join([
        "{}: a store path of its closure was modified after it was built:".format(package_who(repository_ctx)),
        "  " + message,
        "  The output base's copy is a hard link of the machine cache's: repair the cache's copy and",
        "  remove the output base's, then fetch again:",
    ] + repair))

def _scratch_sha256(repository_ctx, text):
    """The SHA-256 of a text (sha256.bzl's text_sha256), through a file the repository does not keep."""
    scratch = "_nixstore/.sha256-input"
    digest = text_sha256(repository_ctx, text, scratch)
    repository_ctx.delete(scratch)
    return digest

# Longest root name the link's own path gives (file names hold 255 bytes).
_ROOT_NAME_MAX = 240

def _root_name(repository_ctx, link):
    """The name of a result link's root in gcroots/auto: unique per link path, stable across fetches.

    The link's path itself, with `%`, `/` and `=` escaped (two paths never share a name, and enter
    splits its `--root` argument at the first `=`), as long as it fits a file name; a digest of
    it otherwise (a file write and a hash: on Bazel 4.2.3, SHA-256 in Starlark).
    """
    name = "rules_nixstore-" + link.replace("%", "%25").replace("/", "%2F").replace("=", "%3D")
    if len(name) <= _ROOT_NAME_MAX:
        return name
    return "rules_nixstore-" + _scratch_sha256(repository_ctx, link)[:32]

def _result_links(repository_ctx, outputs):
    """Makes `_nixstore/result`, `result-2`, ... name the outputs, as `nix-store --add-root` does."""
    links = []
    for i, out in enumerate(outputs):
        name = "_nixstore/result" + ("" if i == 0 else "-{}".format(i + 1))
        repository_ctx.symlink(out, name)
        links.append(str(repository_ctx.path(name)))
    return links

def fetch_pinned(repository_ctx, inputs, cache, root, pin, from_lock = False):
    """Brings a pinned closure from the machine cache into the output base's store: the fast path.

    Args:
      repository_ctx: the repository context.
      inputs: the resolved inputs (package.bzl's resolve_inputs).
      cache: the machine cache.
      root: the output base's store root.
      pin: struct(out, closure = {path: NAR hash}).
      from_lock: whether the pin is the lock file's (a mismatch then names the lock).

    Returns:
      struct(outputs, closure, hashes, scan), or None when the machine cache lacks a path or holds
      a modified copy (the caller then takes Nix's way, which builds or repairs).
    """
    closure = sorted(pin.closure.keys())
    for path in closure:
        if not repository_ctx.path(cache.root + path).exists:
            return None
    roots = []
    for link in _result_links(repository_ctx, pin.out):
        name = _root_name(repository_ctx, link)
        for store in [cache.root, root]:
            roots.extend(["--root", "{}/nix/var/nix/gcroots/auto/{}={}".format(store, name, link)])
    spaces = runfiles_hold_spaces(repository_ctx)
    entries = ["{}={}".format(p[len("/nix/store/"):], pin.closure[p]) for p in closure]
    argv = [enter_for_host(repository_ctx, inputs.enter_binaries), "--import", cache.root + "/nix/store", root + "/nix/store", "1" if spaces else "0"] + roots + entries
    repository_ctx.report_progress("bringing {} store paths in from the machine cache".format(len(closure)))
    result = repository_ctx.execute(argv, timeout = 3600, environment = {"LC_ALL": "C"})
    if result.return_code in [3, 4]:
        # buildifier: disable=print
        print("{}: {} Nix builds it again.".format(package_who(repository_ctx), result.stderr.strip()))
        return None
    if result.return_code == 5:
        _fail_modified(repository_ctx, cache, root, result.stderr.strip(), from_lock)
    if result.return_code != 0:
        fail(command_failure(package_who(repository_ctx), "bringing the closure in from the machine cache failed", argv, result))
    if "rules_nixstore: copied" in result.stderr:
        note_copied(repository_ctx, cache, root)
    return struct(outputs = pin.out, closure = closure, hashes = pin.closure, scan = parse_scan(result.stdout, ""))
