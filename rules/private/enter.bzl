"""The launcher helper `_nixstore/enter`: a prebuilt static binary per architecture, checked against its pin.

Every package repository holds `_nixstore/enter`, which its launchers run where `/nix/store`
does not show the program (see `nixstore_enter.c`). It is an input of every action that runs a
Nix tool, so its bytes must be the same on every machine of an architecture: otherwise action
keys differ between machines and a team's shared cache misses. It is therefore not compiled on
the host (no repository rule needs a C compiler): `scripts/build-enter.sh` builds it from
`nixstore_enter.c` with a pinned Zig, reproducibly, for each platform, into
`rules/private/enter/<platform>/enter`, and writes their sha256s to `rules/private/enter/pins.bzl`.

The binary is the one for the host's architecture, because actions run on machines of the
host's architecture here (locally, or on remote workers of the same kind). Workers of another
architecture would need more than another `enter`: the closure itself is built by the host's
Nix for the host's system. Such a setup would need the package built for the workers' system
(e.g. `--option system` with a remote Nix builder) and `nixstore_executable` to take the
`enter` of the exec platform's CPU (both binaries exported, chosen with `select()` on
`@platforms//cpu`), not the host's.
"""

load("//rules/private/enter:pins.bzl", "ENTER_SHA256")

# repository_ctx.os.arch (Java's os.arch, lower case) -> platform directory.
_PLATFORMS = {
    "aarch64": "aarch64-linux",
    "amd64": "x86_64-linux",
    "arm64": "aarch64-linux",
    "x86_64": "x86_64-linux",
}

_FIX = "run scripts/build-enter.sh in rules_nixstore and commit what it writes (or restore the checked-in files: git checkout rules/private/enter)"

def enter_binaries(repository_ctx):
    """Finds the checked-in `enter` of every platform.

    Call it before the repository rule runs its first command: resolving a label's path may
    restart the rule.

    Args:
      repository_ctx: the repository context.

    Returns:
      A dict from platform (`x86_64-linux`) to the path of its `enter`.
    """
    return {
        platform: repository_ctx.path(Label("//rules/private/enter:{}/enter".format(platform)))
        for platform in ENTER_SHA256
    }

def host_arch(repository_ctx):
    """The host's architecture: Bazel's `os.arch` (Bazel 5.1+), else Linux's own word for it.

    Read without a process where the kernel says it (`/proc/sys/kernel/arch`, Linux 6.1+);
    `uname -m` otherwise.

    Args:
      repository_ctx: the repository context.

    Returns:
      The architecture in lower case (e.g. "x86_64", "amd64"), or "" when `uname` fails.
    """
    if hasattr(repository_ctx.os, "arch"):
        return repository_ctx.os.arch.lower()
    proc = repository_ctx.path("/proc/sys/kernel/arch")
    if proc.exists:
        return repository_ctx.read(proc).strip().lower()
    result = repository_ctx.execute(["uname", "-m"])
    return result.stdout.strip().lower() if result.return_code == 0 else ""

def _host_platform(repository_ctx):
    """(platform, None), or (None, the error naming the architecture and the fix)."""
    arch = host_arch(repository_ctx)
    platform = _PLATFORMS.get(arch)
    if not platform:
        return None, "no prebuilt launcher helper `enter` for this machine's architecture '{}': rules_nixstore builds it for {} only (rules/private/enter).\n  Fix: run Bazel on one of those, or add the architecture to scripts/build-enter.sh and rules/private/enter.bzl.".format(
            arch or "unknown: uname -m failed",
            " and ".join(sorted(ENTER_SHA256.keys())),
        )
    return platform, None

def enter_for_host(repository_ctx, binaries):
    """The checked-in `enter` of the host's architecture, to run from where it is.

    Args:
      repository_ctx: the repository context.
      binaries: the result of `enter_binaries`.

    Returns:
      Its path; fails naming the architecture where there is none.
    """
    platform, error = _host_platform(repository_ctx)
    if error:
        fail(error)
    return binaries[platform]

def install_enter(repository_ctx, binaries, out):
    """Copies the host's `enter` into the repository as a regular executable file, checking its sha256.

    Bazel's downloader copies it from its `file://` URL and checks the pinned sha256 (no process;
    the repository cache keeps it).

    Args:
      repository_ctx: the repository context.
      binaries: the result of `enter_binaries`.
      out: the copy's path, relative to the repository.

    Returns:
      None, or an error message (naming the file and the fix) when there is no binary for the
      host's architecture or its sha256 is not the pinned one.
    """
    platform, error = _host_platform(repository_ctx)
    if error:
        return error
    path = binaries[platform]
    result = repository_ctx.download(
        url = "file://" + str(path),
        output = out,
        sha256 = ENTER_SHA256[platform],
        executable = True,
        allow_fail = True,
    )
    if not result.success:
        return "the launcher helper {} does not have the sha256 that rules/private/enter/pins.bzl pins for {} ({}): the file was changed after it was built.\n  Fix: {}.".format(
            path,
            platform,
            ENTER_SHA256[platform],
            _FIX,
        )
    return None
