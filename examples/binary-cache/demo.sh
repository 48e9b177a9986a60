#!/usr/bin/env bash
# The whole story of this example on one machine (README.md):
#   1. the machine with Nix builds the packages (into a machine cache of its own, .demo/);
#   2. their closures go into a signed binary cache, cache/ (nix copy, signed with cache-key/),
#      served on http://127.0.0.1:37515 (python3 -m http.server; nixgen.config.ts names it);
#   3. nixgen lock pins the packages and records each store path's NAR from the cache's narinfos;
#   4. a machine without Nix: after bazel clean --expunge, Bazel builds and tests //... with no
#      Nix command on PATH, downloading the closures from the cache.
# Then it stops the server and removes the lock (KEEP=1 keeps it, and the server's cache/).
#
# Environment: BAZEL (default bazel), NIXGEN (nixgen's cli.js; default this checkout's built one,
# else npx nixgen), OUTPUT_BASE (Bazel's --output_base, default Bazel's own).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
here=$PWD
port=37515
work=$here/.demo
BAZEL=${BAZEL:-bazel}
startup=()
if [ -n "${OUTPUT_BASE:-}" ]; then startup=("--output_base=$OUTPUT_BASE"); fi
bazel() { command "$BAZEL" "${startup[@]}" "$@"; }
nixgen() {
	if [ -n "${NIXGEN:-}" ]; then
		"$NIXGEN" "$@"
	elif [ -f ../../dist/generator/cli.js ]; then
		node ../../dist/generator/cli.js "$@"
	else
		npx nixgen "$@"
	fi
}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

server=
cleanup() {
	if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
	if [ "${KEEP:-}" != 1 ]; then
		rm -f nixstore.lock.json
		nixgen >/dev/null
	fi
}
trap cleanup EXIT
mkdir -p "$work"
export RULES_NIXSTORE_MACHINE_CACHE=$work/machine-cache

step "1. The machine with Nix builds the packages (machine cache: .demo/machine-cache)"
rm -f nixstore.lock.json
nixgen
nixgen bazelrc --workspace . ${OUTPUT_BASE:+--output-base "$OUTPUT_BASE"} --bazel "$BAZEL"
bazel build --nobuild //...

step "2. A signed binary cache of their closures: cache/, served on http://127.0.0.1:$port"
output_base=$(bazel info output_base)
mapfile -t paths < <(cat "$output_base"/external/*/nix/closure.txt | sort -u)
nix --extra-experimental-features nix-command copy --from "$RULES_NIXSTORE_MACHINE_CACHE" \
	--to "file://$here/cache?secret-key=$here/cache-key/rules-nixstore-example-1.sec" "${paths[@]}"
python3 -m http.server --bind 127.0.0.1 --directory cache "$port" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 50); do
	if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/nix-cache-info')" 2>/dev/null; then break; fi
	sleep 0.1
done
echo "${#paths[@]} store paths in cache/ ($(du -sh cache | cut -f1)), served by python3 -m http.server (pid $server)"

step "3. nixgen lock: the packages' pins, and where each store path's NAR is (signed narinfos)"
nixgen lock ${OUTPUT_BASE:+--output-base "$OUTPUT_BASE"} --bazel "$BAZEL"
grep -c '"fileHash"' nixstore.lock.json | sed 's/$/ NARs recorded in nixstore.lock.json/'

step "4. A machine without Nix: bazel clean --expunge, then bazel test //... with no Nix on PATH"
bazel clean --expunge
# Every program of the machine but Nix's: what repository rules see on a machine without Nix.
nonix=$work/no-nix-bin
rm -rf "$nonix" && mkdir -p "$nonix"
for dir in /usr/local/bin /usr/bin /bin; do
	for program in "$dir"/*; do
		name=${program##*/}
		case $name in nix | nix-*) continue ;; esac
		[ -e "$nonix/$name" ] || ln -s "$program" "$nonix/$name"
	done
done
nixgen bazelrc --workspace . ${OUTPUT_BASE:+--output-base "$OUTPUT_BASE"} --bazel "$BAZEL"
bazel test "--repo_env=PATH=$nonix" //...
echo
cat bazel-bin/greeting.txt
