#!/bin/sh
# Checks the genrules' outputs, and runs a Nix executable from the test itself.
set -eu
expected="hello from nix
greet from nix from a genrule"
[ "$(cat "$1")" = "$expected" ] || { echo "unexpected greeting: $(cat "$1")"; exit 1; }
[ "$(cat "$2")" = "hello from nix" ] || { echo "unexpected shared-store greeting: $(cat "$2")"; exit 1; }
[ "$("$3")" = "hello from nix" ] || { echo "hello failed"; exit 1; }
echo "ok"
