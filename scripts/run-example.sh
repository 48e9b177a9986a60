#!/usr/bin/env bash
# The main job: set up this machine, then build and test examples/bzlmod on Bazel 7.7.1 with
# Nix 2.34 (Debian sid's, in the root of scripts/sid, created on first use): a MODULE.bazel
# workspace whose targets run Nix packages (an ELF with a /nix/store interpreter, a /nix/store
# shebang script, and a package of absolute store symlinks). examples/local-sandbox is the same
# workspace for WORKSPACE and Debian's Bazel 4.2.3 (`cd examples/local-sandbox && bazel test //...`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd examples/bzlmod
# nixgen bazelrc inside the sid root: it asks that Bazel for its output base and checks that
# machine's /nix/store mount target.
../../scripts/sid node ../../dist/generator/cli.js bazelrc --workspace .
../../scripts/bazel7 test //...
echo
echo "== bazel-bin/greeting.txt, written by Nix executables inside a Bazel 7.7.1 action:"
cat bazel-bin/greeting.txt
