#!/bin/sh
# The genrule ran the program (built by the Nix toolchain for the exec platform) and kept its words.
[ "$(cat "$1")" = "hello from a Nix toolchain" ] || { echo "FAIL: $1 holds '$(cat "$1")'"; exit 1; }
echo "ok: $1"
