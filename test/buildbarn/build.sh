#!/usr/bin/env bash
# Builds bb_storage, bb_scheduler, bb_worker and bb_runner from the Go module
# proxy into "$NIXSTORE_BB_CACHE/bin" (default ~/.cache/rules_nixstore/buildbarn).
# Idempotent: does nothing when the binaries were built from the same inputs
# (go.mod, go.sum, tools.go, patches.sh, this script, Go version).
# The Go sources are never copied into the repository: two modules are copied
# from the module cache into the cache directory, patched there (patches.sh) and
# substituted with `replace` in a throw-away copy of go.mod.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${NIXSTORE_BB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rules_nixstore/buildbarn}
BIN=$CACHE/bin
COMMANDS=(
	github.com/buildbarn/bb-storage/cmd/bb_storage
	github.com/buildbarn/bb-remote-execution/cmd/bb_scheduler
	github.com/buildbarn/bb-remote-execution/cmd/bb_worker
	github.com/buildbarn/bb-remote-execution/cmd/bb_runner
)
BYTESTREAM=google.golang.org/genproto/googleapis/bytestream
GOFUSE=github.com/hanwen/go-fuse/v2

log() { echo "build.sh: $*" >&2; }

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$GO" ] || { log "no Go toolchain (set GO=/path/to/go)"; exit 1; }
# The buildbarn pseudo-versions are not in the public checksum database; go.sum
# (checked in) pins their hashes instead.
export GONOSUMDB=${GONOSUMDB:-github.com/buildbarn}
export GOFLAGS=${GOFLAGS:-}
# Low priority and one package at a time: the machines are shared.
NICE=(nice -n 19)
JOBS=${NIXSTORE_BB_GO_JOBS:-1}

mkdir -p "$CACHE"
exec 9>"$CACHE/.build.lock"
if ! flock -n 9; then
	log "another build is running; waiting for $CACHE/.build.lock"
	flock 9
fi

stamp=$(
	cd "$HERE"
	{
		cat go.mod go.sum tools.go patches.sh build.sh
		"$GO" version
	} | sha256sum | cut -d' ' -f1
)
all_built() {
	local c
	for c in "${COMMANDS[@]}"; do [ -x "$BIN/${c##*/}" ] || return 1; done
}
if [ "$(cat "$BIN/.stamp" 2>/dev/null)" = "$stamp" ] && all_built; then
	log "up to date in $BIN"
	exit 0
fi

start=$(date +%s)
# shellcheck source=patches.sh
. "$HERE/patches.sh"

# version_of MODULE: the version go.mod selects (after replace) for MODULE.
version_of() {
	(cd "$HERE" && "$GO" list -m -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' "$1")
}
# patched_copy MODULE FUNCTION: prints the directory of a patched copy of MODULE.
patched_copy() {
	local mod=$1 fn=$2 ver dir dst
	ver=$(version_of "$mod")
	dst=$CACHE/src/$(echo "$mod" | tr / _)@$ver
	if [ -f "$dst/.patched-$stamp" ]; then
		echo "$dst"
		return
	fi
	log "downloading $mod@$ver"
	dir=$(cd "$HERE" && "$GO" mod download -json "$mod@$ver" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[ -d "$dir" ] || { log "go mod download gave no directory for $mod@$ver"; exit 1; }
	log "patching a copy of $mod@$ver ($fn)"
	rm -rf "$dst" "$dst.tmp"
	mkdir -p "$CACHE/src"
	cp -R "$dir" "$dst.tmp"
	chmod -R u+w "$dst.tmp"
	"$fn" "$dst.tmp"
	touch "$dst.tmp/.patched-$stamp"
	mv "$dst.tmp" "$dst"
	echo "$dst"
}

log "Go: $("$GO" version)"
log "downloading modules listed in go.mod (first time: a few minutes)"
(cd "$HERE" && "$GO" mod download)
bytestream_dir=$(patched_copy "$BYTESTREAM" patch_bytestream)
gofuse_dir=$(patched_copy "$GOFUSE" patch_gofuse)

# A scratch module: our go.mod/go.sum plus replaces pointing at the patched copies.
work=$CACHE/work
rm -rf "$work"
mkdir -p "$work"
cp "$HERE/go.mod" "$HERE/go.sum" "$HERE/tools.go" "$work/"
(
	cd "$work"
	"$GO" mod edit -replace "$BYTESTREAM=$bytestream_dir" -replace "$GOFUSE=$gofuse_dir"
)

rm -rf "$BIN.tmp"
mkdir -p "$BIN.tmp"
for c in "${COMMANDS[@]}"; do
	t0=$(date +%s)
	log "compiling ${c##*/} (go build -p $JOBS, nice 19)..."
	(cd "$work" && CGO_ENABLED=0 "${NICE[@]}" "$GO" build -p "$JOBS" -trimpath -ldflags="-s -w" -o "$BIN.tmp/${c##*/}" "$c")
	log "  ${c##*/}: $(($(date +%s) - t0))s, $(du -h "$BIN.tmp/${c##*/}" | cut -f1)"
done
echo "$stamp" >"$BIN.tmp/.stamp"
rm -rf "$BIN"
mv "$BIN.tmp" "$BIN"
log "built in $(($(date +%s) - start))s into $BIN"
