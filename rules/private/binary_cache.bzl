"""Closures downloaded from Nix binary caches, with no Nix on the machine.

`nixgen lock` with binary caches (`binaryCaches` in nixgen.config.ts) records, besides each
package's pins, where every store path of the closures is served (`nars` at the top of the lock
file, by store path):

    {"cache": "https://cache.example", "url": "nar/<file hash>.nar.xz", "compression": "xz",
     "fileHash": "sha256:<Nix base32>", "fileSize": 123, "narHash": "sha256:<Nix base32>",
     "narSize": 456, "references": ["/nix/store/..."]}

taken from narinfos whose signatures it checked with the caches' public keys. A package whose
pinned inputs match and whose every closure path has such a record is fetched here, on any
machine, without running a Nix command:

1. the paths already in the output base's download store (`<output_base>/nixstore-downloaded`,
   shared by the output base's packages; not a Nix store) are checked against their NAR hashes
   (`enter --nar-hash`); a modified one is downloaded again;
2. each missing NAR file is downloaded with `repository_ctx.download` and the file's sha256
   from the lock, so Bazel checks it, keeps it in its repository cache (a refetch after
   `bazel clean --expunge` downloads nothing), and applies its downloader settings (mirrors,
   `--experimental_downloader_config`, credential helpers);
3. `enter --unpack-nars` decompresses them (with the host's xz, zstd or bzip2, named when
   missing), unpacks each into a fresh directory while hashing it, and renames it into place
   only when its NAR hash is the pinned one, so the store never holds a half-unpacked path;
4. the package is laid out from that store exactly as from a Nix store: same files, same
   targets, same action keys as on a machine that built it with Nix.

Failures name the package, the store path, the cache and URL, and what went wrong: the cache
cannot be reached, the file is truncated or is not the one the lock pins (tampered), its NAR
hash differs, a decompressor is missing, or (without Nix) the lock records no cache for a path.
"""

load(":command.bzl", "command_failure", "execute_or_fail")
load(":constants.bzl", "DOWNLOADED_STORE_DIRNAME")
load(":enter.bzl", "install_enter")
load(":lock.bzl", "inputs_digest", "lock_update_requested", "read_lock_entry", "write_record")
load(":names.bzl", "package_who", "portable_label")
load(":package_contents.bzl", "plan_layout")
load(":store.bzl", "find_nix")

# The decompressor of each compression a cache may serve, and the Debian package that has it.
_DECOMPRESSORS = {
    "bzip2": ("bzip2", "bzip2"),
    "none": None,
    "xz": ("xz", "xz-utils"),
    "zstd": ("zstd", "zstd"),
}

_NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"
_HEX = "0123456789abcdef"

# Where the downloaded NAR files wait for unpacking, in the repository.
_DOWNLOADS = "_nixstore/nars"

# Store paths listed in a message; the rest are counted.
_SHOWN = 10

def _fail(repository_ctx, message):
    fail("{}: {}".format(package_who(repository_ctx), message))

def nix32_to_hex(text):
    """The hex digits of a sha256 written in Nix's base32 (52 digits, last bits first).

    Args:
      text: the 52 Nix base32 digits.

    Returns:
      64 hex digits, or None when the text is not a sha256 in Nix base32.
    """
    if len(text) != 52:
        return None
    digest = [0] * 32
    for k in range(52):
        c = _NIX32.find(text[k])
        if c < 0:
            return None
        b = (51 - k) * 5
        i = b // 8
        j = b % 8
        digest[i] = digest[i] | ((c << j) & 255)
        carry = c >> (8 - j)
        if i + 1 < 32:
            digest[i + 1] = digest[i + 1] | carry
        elif carry:
            return None
    return "".join([_HEX[d >> 4] + _HEX[d & 15] for d in digest])

def downloaded_store_root(repository_ctx):
    """The root of the output base's download store: its paths are under `<root>/nix/store`.

    Args:
      repository_ctx: the repository context.

    Returns:
      `<output_base>/nixstore-downloaded`, as a string.
    """
    return "{}/{}".format(repository_ctx.path(".").dirname.dirname, DOWNLOADED_STORE_DIRNAME)

def _listing(paths):
    shown = ["  " + p for p in paths[:_SHOWN]]
    if len(paths) > _SHOWN:
        shown.append("  ... and {} more".format(len(paths) - _SHOWN))
    return "\n".join(shown)

def _nar_record(repository_ctx, what, path, record, pinned):
    """Checks one `nars` record of the lock against the pin; returns it as a struct."""
    problem = None
    if type(record) != "dict":
        problem = "is not an object"
    else:
        for key in ["cache", "url", "compression", "fileHash", "narHash"]:
            if type(record.get(key)) != "string" or not record.get(key):
                problem = "has no {}".format(key)
        if not problem and record["compression"] not in _DECOMPRESSORS:
            problem = "names compression \"{}\", which rules_nixstore does not unpack (it does {})".format(
                record["compression"],
                ", ".join(sorted(_DECOMPRESSORS.keys())),
            )
        if not problem and type(record.get("fileSize")) != "int":
            problem = "has no fileSize"
        if not problem and type(record.get("references")) != "list":
            problem = "has no references"
        if not problem and record["narHash"] != pinned:
            problem = "names NAR hash {}, but the package's pin is {}".format(record["narHash"], pinned)
        if not problem and not (record["fileHash"].startswith("sha256:") and nix32_to_hex(record["fileHash"][len("sha256:"):])):
            problem = "has fileHash {}, not sha256:<Nix base32>".format(record["fileHash"])
    if problem:
        _fail(repository_ctx, "{}: the record of {} in \"nars\" {}; run `nixgen lock` again.".format(what, path, problem))
    url = record["url"]
    if not url.startswith("http://") and not url.startswith("https://") and not url.startswith("file:"):
        url = record["cache"].rstrip("/") + "/" + url
    return struct(
        cache = record["cache"],
        url = url,
        compression = record["compression"],
        sha256 = nix32_to_hex(record["fileHash"][len("sha256:"):]),
        file_size = record["fileSize"],
        references = record["references"],
    )

def _lock_nars(repository_ctx, inputs, entry):
    """The `nars` records of the entry's closure: struct(found = {path: record}, missing = [paths])."""
    what = "the lock file {} ({})".format(portable_label(repository_ctx.attr.lock), inputs.lock)
    nars = json.decode(repository_ctx.read(inputs.lock)).get("nars", {})
    if type(nars) != "dict":
        _fail(repository_ctx, "{}: \"nars\" is not an object; regenerate it with `nixgen lock`.".format(what))
    found = {}
    missing = []
    for path in sorted(entry.closure.keys()):
        if path in nars:
            found[path] = _nar_record(repository_ctx, what, path, nars[path], entry.closure[path])
        else:
            missing.append(path)
    for path, record in found.items():
        outside = [r for r in record.references if r not in entry.closure]
        if outside:
            _fail(repository_ctx, "{}: {} refers to {}, which its entry's closure lacks; run `nixgen lock` again.".format(what, path, ", ".join(outside)))
    return struct(found = found, missing = missing)

def _entry_name(path):
    return path[len("/nix/store/"):]

def _decompressors(repository_ctx, paths, nars):
    """The decompressor of each compression the paths need (found on PATH), or fails naming the missing one."""
    tools = {}
    for path in paths:
        compression = nars[path].compression
        if compression in tools:
            continue
        if _DECOMPRESSORS[compression] == None:
            tools[compression] = "none"
            continue
        tool, debian = _DECOMPRESSORS[compression]
        found = repository_ctx.which(tool)
        if not found:
            _fail(repository_ctx, "\n".join([
                "its closure is downloaded from a binary cache without Nix, and {} of its NARs are compressed with {}, but `{}` is not on PATH:".format(
                    len([p for p in paths if nars[p].compression == compression]),
                    compression,
                    tool,
                ),
                _listing([p for p in paths if nars[p].compression == compression]),
                "  Install it (Debian: apt-get install {}), or give repository rules a PATH that has it (--repo_env=PATH=...).".format(debian),
            ]))
        tools[compression] = str(found)
    return tools

def _file_size(repository_ctx, file):
    result = repository_ctx.execute(["stat", "-c", "%s", "--", str(repository_ctx.path(file))])
    return int(result.stdout.strip()) if result.return_code == 0 and result.stdout.strip().isdigit() else -1

def _probe(repository_ctx, url, output):
    """Fetches `url` again, without a checksum, to tell why a download failed: struct(size, sha256), None when it fails, or "" when nothing can tell.

    Bazel's downloader takes no plain http:// URL without a checksum, so those are fetched with
    curl or wget where the host has one; what they fetch is only measured, then deleted.
    """
    if not url.startswith("http://"):
        result = repository_ctx.download(url, output = output, allow_fail = True)
        if not result.success:
            return None
        sha256 = result.sha256
    else:
        curl = repository_ctx.which("curl")
        wget = repository_ctx.which("wget")
        if curl:
            argv = [str(curl), "-fsSL", "--max-time", "60", "-o", str(repository_ctx.path(output)), "--", url]
        elif wget:
            argv = [str(wget), "-q", "-T", "60", "-O", str(repository_ctx.path(output)), "--", url]
        else:
            return ""
        if repository_ctx.execute(argv, timeout = 120).return_code != 0:
            return None
        result = repository_ctx.execute(["sha256sum", "--", str(repository_ctx.path(output))])
        sha256 = result.stdout.split(" ")[0]
    return struct(size = _file_size(repository_ctx, output), sha256 = sha256)

def _download_failure(repository_ctx, nar, output):
    """Why the download of a NAR failed (it is fetched again without a checksum to tell), and what to do."""
    probe = _probe(repository_ctx, nar.url, output + ".probe")
    if probe == "":
        return (
            "the cache cannot be reached, the transfer broke off, or the file is not the one the lock pins (tampered or truncated); Bazel's warning above says which",
            "Check the cache (nixgen doctor reports whether this machine can fetch without Nix). If its content changed and is trusted, run `nixgen lock` again on a machine with Nix.",
        )
    if probe:
        if probe.size >= 0 and probe.size < nar.file_size:
            why = "the download is truncated: the cache sent {} of its {} bytes".format(probe.size, nar.file_size)
            fix = "Repair the cache (copy the path to it again: nix copy --to ...), then fetch again."
        else:
            why = "the file the cache serves has sha256 {} ({} bytes), but the lock pins sha256 {} ({} bytes), from the cache's signed narinfo: it was tampered with or replaced since the lock was written".format(
                probe.sha256,
                probe.size,
                nar.sha256,
                nar.file_size,
            )
            fix = "If the cache's new content is trusted, run `nixgen lock` again (on a machine with Nix) and commit the lock; otherwise restore the cache."
        return why, fix
    if _probe(repository_ctx, nar.cache.rstrip("/") + "/nix-cache-info", output + ".info"):
        return (
            "the cache answers, but the download of this file failed (it is missing from the cache, or the transfer broke off; see Bazel's warning above)",
            "Check that the cache still holds the path (its narinfo and NAR), or run `nixgen lock` again.",
        )
    return (
        "the binary cache {} cannot be reached (see Bazel's warning above)".format(nar.cache),
        "Check the network and the cache (nixgen doctor reports whether this machine can fetch without Nix), or Bazel's downloader settings (--experimental_downloader_config).",
    )

def _download(repository_ctx, paths, nars):
    """Downloads the NAR of each path (the file's sha256 checked by Bazel); returns the files' paths."""
    files = []
    for i, path in enumerate(paths):
        nar = nars[path]
        repository_ctx.report_progress("downloading {} of {} NARs: {}".format(i + 1, len(paths), _entry_name(path)))
        output = "{}/{}.nar".format(_DOWNLOADS, _entry_name(path)[:32])
        result = repository_ctx.download(nar.url, output = output, sha256 = nar.sha256, allow_fail = True)
        if not result.success:
            why, fix = _download_failure(repository_ctx, nar, output)
            repository_ctx.delete(_DOWNLOADS)
            _fail(repository_ctx, "\n".join([
                "cannot download the NAR of {} from the binary cache {} ({}): {}.".format(path, nar.cache, nar.url, why),
                "  Nothing of it was unpacked. " + fix,
            ]))
        files.append(str(repository_ctx.path(output)))
    return files

def _modified(repository_ctx, enter, store_dir, present, pins):
    """The present paths whose NAR hash is not the pinned one (modified since they were unpacked)."""
    if not present:
        return []
    argv = [enter, "--nar-hash", store_dir] + [_entry_name(p) for p in present]
    result = execute_or_fail(repository_ctx, argv, "hashing the downloaded store paths failed", who = package_who(repository_ctx), timeout = 3600)
    hashes = result.stdout.splitlines()
    modified = [p for p, h in zip(present, hashes) if h != pins[p]]
    if modified:
        # buildifier: disable=print
        print("{}: these store paths of {} no longer match their NAR hashes (modified after they were unpacked); they are downloaded and unpacked again:\n{}".format(
            package_who(repository_ctx),
            store_dir,
            _listing(modified),
        ))
    return modified

def _unpack(repository_ctx, enter, store_dir, paths, files, tools, entry, nars):
    """Unpacks the downloaded NARs into the store, each checked against its pinned NAR hash."""
    repository_ctx.report_progress("unpacking {} NARs into {}".format(len(paths), store_dir))
    argv = [enter, "--unpack-nars", store_dir]
    for path, file in zip(paths, files):
        argv.extend([_entry_name(path), entry.closure[path], file, tools[nars[path].compression]])
    result = repository_ctx.execute(argv, timeout = 3600)
    repository_ctx.delete(_DOWNLOADS)
    if result.return_code != 0:
        named = [p for p in paths if _entry_name(p) in result.stderr]
        fail(command_failure(
            package_who(repository_ctx),
            "unpacking the NARs downloaded from the binary cache failed{}".format(
                "; " + ", ".join(["{} (from {})".format(p, nars[p].url) for p in named]) if named else "",
            ),
            argv,
            result,
            fix = "Nothing half-unpacked was left in {}. A NAR whose hash is not the pinned one was tampered with (or the lock was edited): restore the cache, or run `nixgen lock` again on a machine with Nix.".format(store_dir),
        ))

def _without_nix_message(repository_ctx, missing):
    return "\n".join([
        "Nix is not on PATH, and the lock file {} records no binary cache for {} of the store paths it pins for this package:".format(
            portable_label(repository_ctx.attr.lock),
            len(missing),
        ),
        _listing(missing),
        "  So this machine can neither build nor download them. List the caches that serve them in binaryCaches",
        "  (nixgen.config.ts, or nixgen lock --binary-cache URL --public-key KEY), run `nixgen lock` on a machine",
        "  with Nix and commit the lock; or install Nix here (Debian: apt-get install nix-bin).",
    ])

def download_locked_closure(repository_ctx, inputs, expression = None):
    """Brings the package's closure from the binary caches its lock entry records, without Nix.

    Applies when the package's lock entry pins its current inputs and the lock records a
    binary cache for every store path of the closure (see the module's doc); then no Nix
    command runs, whether or not Nix is installed. Returns None otherwise, for the caller to
    build with Nix; where Nix is missing, a lock entry that cannot be downloaded fails naming
    the paths and what to do (unless `fail_not_supported = False`).

    Args:
      repository_ctx: the repository context of a nixpkgs_package (or toolchain) repository.
      inputs: the result of package.bzl's `resolve_inputs`.
      expression: the `.nix` file the caller builds instead of the rule's attributes, or None.

    Returns:
      struct(root, outputs, closure, plan) as package.bzl's `obtain_closure` returns, or None.
    """
    attr = repository_ctx.attr
    if not inputs.lock or attr.store == "system" or lock_update_requested(repository_ctx):
        return None
    entry = read_lock_entry(repository_ctx, inputs.lock, attr.lock)
    if entry == None:
        return None
    nars = _lock_nars(repository_ctx, inputs, entry)
    nix, _ = find_nix(repository_ctx, ["nix-build", "nix-store"])
    if nars.missing:
        if nix or not attr.fail_not_supported:
            return None
        _fail(repository_ctx, _without_nix_message(repository_ctx, nars.missing))
    digest = inputs_digest(repository_ctx, inputs, attr.store, expression)
    if digest != entry.inputs:
        if nix:
            return None
        _fail(repository_ctx, "its inputs (attributes or Nix files) changed since the lock file {} was written, and Nix is not on PATH to build the new ones: run `nixgen lock` on a machine with Nix and commit the lock (or revert the change).".format(portable_label(attr.lock)))

    paths = sorted(entry.closure.keys())
    root = downloaded_store_root(repository_ctx)
    store_dir = root + "/nix/store"
    execute_or_fail(repository_ctx, ["mkdir", "-p", store_dir], "cannot create the download store " + store_dir, who = package_who(repository_ctx))
    error = install_enter(repository_ctx, inputs.enter_binaries, "_nixstore/enter")
    if error:
        _fail(repository_ctx, error)
    enter = str(repository_ctx.path("_nixstore/enter"))
    present = [p for p in paths if repository_ctx.path(root + p).exists]
    missing = [p for p in paths if p not in present] + _modified(repository_ctx, enter, store_dir, present, entry.closure)
    if missing:
        tools = _decompressors(repository_ctx, missing, nars.found)
        files = _download(repository_ctx, missing, nars.found)
        _unpack(repository_ctx, enter, store_dir, missing, files, tools, entry, nars.found)
    plan = plan_layout(repository_ctx, root, paths)
    write_record(repository_ctx, digest, entry.out, entry.closure)
    return struct(root = root, outputs = entry.out, closure = paths, plan = plan, scan = None)
