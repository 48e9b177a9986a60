#!/usr/bin/env bash
# Installs what rules_nixstore needs on a Debian bookworm machine and builds nixgen.
# Idempotent: packages already installed are not touched. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# bazel-bootstrap: Bazel 4.2.3; bazel-rules-java: the @rules_java it needs offline;
# nix-bin: nix-build for the repository rules; busybox-static: the fixture's builder;
# python3-pip: scripts/build-enter.sh downloads its pinned Zig with pip (the launcher helper
# enter is prebuilt and checked in; its rebuild test and one launcher test use that Zig);
# curl, iproute2 (ss), perl: test/buildbarn's scripts (the Buildbarn test cluster, built with
# the machine's Go from the Go module proxy on first use);
# debootstrap, debian-archive-keyring: the Debian sid root of Bazel 7.7.1 + Nix 2.34 (scripts/sid);
# gcc, g++, libc6-dev, binutils, patchelf: the fixture nixpkgs' C/C++ compiler (stdenv.cc) is
# the host's, imported into store paths and patched;
# bazel-skylib: the Starlark unit tests' unittest (test/starlark; the sid root has it as a
# dependency of its bazel-bootstrap); shellcheck: scripts/lint-shell.sh; libcap2-bin: getcap,
# with which the launcher tests check that `enter` carries no file capabilities; util-linux: flock
# (the Buildbarn cluster's scripts) and setpriv.
packages=(bazel-bootstrap bazel-rules-java bazel-skylib nix-bin busybox-static python3-pip util-linux findutils coreutils git curl iproute2 perl debootstrap debian-archive-keyring gcc g++ libc6-dev binutils patchelf shellcheck libcap2-bin strace)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

node_ok=$(node -e 'const [a,b]=process.versions.node.split(".").map(Number); console.log(a>20||(a===20&&b>=19)?1:0)' 2>/dev/null || echo 0)
if [ "$node_ok" != 1 ]; then
  echo "setup: Node.js >= 20.19 is required (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "       Debian bookworm's nodejs is 18; install Node 20 from your usual source." >&2
  exit 1
fi

# The linux-sandbox can only mount the store onto an existing /nix/store. An empty directory is
# enough; nothing is ever written into it. Without it, the launcher maps the store instead.
if [ ! -d /nix/store ]; then
  if [ "$(id -u)" = 0 ] || command -v sudo >/dev/null; then
    say "creating the empty mount target /nix/store"
    as_root mkdir -p /nix/store
  else
    say "no /nix/store: the linux-sandbox mount pair stays off (the launcher maps the store)"
  fi
fi

say "npm ci"
npm ci --no-audit --no-fund --loglevel=error
say "building nixgen"
npm run --silent build
