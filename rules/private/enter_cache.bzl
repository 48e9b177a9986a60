"""The launcher helper `_nixstore/enter`, compiled once per output base and copied into each repository.

Every package repository needs `_nixstore/enter`, a static binary compiled from
`nixstore_enter.c` with `cc -static -O2 -s` (~0.16 s). The binary depends only on the source,
the compiler command line and the compiler, so it is compiled once into

    <output_base>/nixstore/.cache/enter/<key>/enter          (mode 0755)
    <output_base>/nixstore/.cache/enter/<key>/enter.sha256   (its sha256, hex)

where `<key>` is the sha256 of `_nixstore/enter-key.json` (the source text, the command line,
the compiler's path, resolved path and `--version` line). Each repository gets its own regular
copy: `enter` is an action input, shipped to remote workers like any other file.

Bazel fetches repositories in parallel. A missing entry is compiled under `flock` on
`<key>/lock`, into a temp name, then renamed into place, so concurrent fetches compile once and
never see a half-written file. A copy is used only if its sha256 matches the recorded one; any
failure of the cache (unwritable directory, corrupt entry, no `flock`) ends in compiling into the
repository as before.
"""

load(":store.bzl", "store_root")

ENTER_FLAGS = ["-static", "-O2", "-s"]

# sh -c script (fixed text; paths arrive as arguments): $1 is the cache's `enter`, $2 the
# repository's copy. Copies a complete, executable entry whose content matches its recorded
# sha256; exits non-zero (leaving no copy) otherwise.
_COPY_SCRIPT = """\
set -u
[ -f "$1" ] && [ -x "$1" ] && [ -s "$1" ] && [ -s "$1.sha256" ] || exit 3
read -r want < "$1.sha256" || exit 3
cp -f -- "$1" "$2" || exit 4
have=$(sha256sum < "$2") || exit 4
if [ "${have%% *}" != "$want" ]; then rm -f -- "$2"; exit 5; fi
"""

# sh -c script, run under flock on the entry's lock: $1 is the entry's directory, $2 the C
# source, the rest the compiler and its flags. Keeps a valid entry (another fetch may have
# published it while this one waited); otherwise compiles into a temp name and renames it (and
# then its sha256) into place.
_PUBLISH_SCRIPT = """\
set -u
d=$1 src=$2
shift 2
if [ -f "$d/enter" ] && [ -x "$d/enter" ] && [ -s "$d/enter" ] && [ -s "$d/enter.sha256" ]; then
  have=$(sha256sum < "$d/enter") && read -r want < "$d/enter.sha256" && [ "${have%% *}" = "$want" ] && exit 0
fi
tmp=$d/enter.tmp.$$
if "$@" -o "$tmp" "$src" && [ -s "$tmp" ] && chmod 0755 "$tmp" && have=$(sha256sum < "$tmp") &&
  printf '%s\\n' "${have%% *}" > "$tmp.sha256" && mv -f -- "$tmp" "$d/enter" && mv -f -- "$tmp.sha256" "$d/enter.sha256"; then
  exit 0
fi
rm -f -- "$tmp" "$tmp.sha256"
exit 1
"""

def _entry_dir(repository_ctx, cc, source):
    """The cache entry's directory for this compiler and source, or None when it cannot be keyed."""
    version = repository_ctx.execute([str(cc), "--version"], timeout = 60)
    if version.return_code != 0 or not version.stdout.strip():
        return None
    manifest = json.encode({
        "argv": [str(cc)] + ENTER_FLAGS + ["-o", "<output>", "<source>"],
        "compiler": {
            "path": str(cc),
            "realpath": str(cc.realpath),
            "version": version.stdout.strip().splitlines()[0],
        },
        "source": repository_ctx.read(source),
    })
    repository_ctx.file("_nixstore/enter-key.json", manifest + "\n")
    result = repository_ctx.execute(["sha256sum", "--", str(repository_ctx.path("_nixstore/enter-key.json"))])
    key = result.stdout.split(" ")[0]
    if result.return_code != 0 or len(key) != 64:
        return None
    return "{}/.cache/enter/{}".format(store_root(repository_ctx), key)

def _copy(repository_ctx, cached, out):
    return repository_ctx.execute(["sh", "-c", _COPY_SCRIPT, "sh", cached, out]).return_code == 0

def _publish(repository_ctx, entry, cc, source):
    if repository_ctx.execute(["mkdir", "-p", entry]).return_code != 0:
        return False
    argv = ["sh", "-c", _PUBLISH_SCRIPT, "sh", entry, str(source), str(cc)] + ENTER_FLAGS
    flock = repository_ctx.which("flock")
    if flock:
        argv = [str(flock), entry + "/lock"] + argv
    repository_ctx.report_progress("compiling the launcher helper enter (once per output base)")
    return repository_ctx.execute(argv, timeout = 600).return_code == 0

def copy_cached_enter(repository_ctx, cc, source, out):
    """Puts the cached `enter` for this compiler and source at `out`, compiling it into the cache if needed.

    Never fails the fetch: returns False when the cache cannot provide a verified copy, and the
    caller then compiles into the repository.

    Args:
      repository_ctx: the repository context.
      cc: path of the C compiler.
      source: path of nixstore_enter.c.
      out: absolute path of the repository's `_nixstore/enter`, as a string.

    Returns:
      True when `out` is a verified copy of the cache's entry.
    """
    entry = _entry_dir(repository_ctx, cc, source)
    if not entry:
        return False
    cached = entry + "/enter"
    if _copy(repository_ctx, cached, out):
        return True

    # Missing, corrupt, or being replaced: (re)compile under the lock, then copy again.
    return _publish(repository_ctx, entry, cc, source) and _copy(repository_ctx, cached, out)
