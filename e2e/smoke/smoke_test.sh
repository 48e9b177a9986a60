#!/bin/sh
# usage: smoke_test.sh GREETING SMOKE
# Checks what the genrule's Nix executable wrote, then runs the Nix executable from the test.
set -eu
greeting=$(cat "$1")
[ "$greeting" = "smoke from nix from a genrule" ] || { echo "FAIL: the genrule wrote '$greeting'"; exit 1; }
actual=$("$2" from a test) || { echo "FAIL: $2 exited $?"; exit 1; }
[ "$actual" = "smoke from nix from a test" ] || { echo "FAIL: $2 printed '$actual'"; exit 1; }
echo "ok: $actual"
