#!/usr/bin/env bash
# The main job: set up this machine, then build and test examples/local-sandbox, a workspace
# whose targets run Nix packages (an ELF with a /nix/store interpreter, a /nix/store shebang
# script, and a package of absolute store symlinks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd examples/local-sandbox
node ../../dist/generator/cli.js bazelrc --workspace .
bazel test //...
echo
echo "== bazel-bin/greeting.txt, written by Nix executables inside a Bazel action:"
cat bazel-bin/greeting.txt
