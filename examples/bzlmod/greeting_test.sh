#!/bin/sh
# Checks the genrule's output, and runs a Nix executable from the test itself.
set -eu
greeting=$1
linked_hello=$2
expected="hello from nix
greet from nix from a genrule
linked data"
actual=$(cat "$greeting")
if [ "$actual" != "$expected" ]; then
  echo "unexpected greeting:"
  echo "$actual"
  exit 1
fi
[ "$("$linked_hello")" = "hello from nix" ] || { echo "linked hello failed"; exit 1; }
echo "ok"
