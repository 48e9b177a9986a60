#!/bin/sh
# Checks the genrule's output, and runs a Nix executable from the test itself.
set -eu
expected="hello from nix
greet from nix from a binary cache"
actual=$(cat "$1")
if [ "$actual" != "$expected" ]; then
  echo "unexpected greeting:"
  echo "$actual"
  exit 1
fi
[ "$("$2")" = "hello from nix" ] || { echo "hello failed"; exit 1; }
echo "ok"
