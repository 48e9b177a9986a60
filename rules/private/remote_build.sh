#!/bin/sh
# Builds a remotable nixpkgs_package where Bazel runs it: on the remote executor chosen by the
# package's exec_properties (with --experimental_repo_remote_exec and --remote_executor), or on
# the client without an executor. It runs nix-build against the node's own Nix store and sends
# the package's runtime closure back on stdout, the only channel a remote repository action has
# (see rules/private/remotable.bzl):
#
#   nixstore-remote-build 2
#   out <store path>                 one line per output nix-build printed, in its order
#   path <store path> <NAR hash>     one line per path of the last output's closure, sorted; the
#                                    hash as the store records it (sha256:<Nix base32>)
#   exe <name>                       one line per executable of <last output>/bin whose name a
#                                    Bazel label can hold and that has no blank
#   closure shared-store             with --shared-store only
#   archive <bytes> <sha256>         size and sha256 (hex) of the archive below
#   data
#   <base64 of a gzip-compressed tar of nix/store/<path>... of the closure>
#
# The client (remote_closure.bzl) checks the archive's size and sha256, then every store path's
# NAR hash, before it lays anything out. With --shared-store, no archive is made (`archive 0`,
# nothing after `data`): the closure stays in the executor's store, which the executors that run
# the package's consumers share; it is registered as a garbage collector root there
# (/nix/var/nix/gcroots/rules_nixstore/).
#
# Usage: remote_build.sh <package> <max archive bytes> [--shared-store] [options] -- <nix-build arguments>
#   --search <name> <file>   -I <name>=<directory of file> (a repository's marker file)
#   --search-archive <name> <sha256> <urls>
#                            -I <name>=<the archive>: fetched here (nix-prefetch-url, from the
#                            first of the space-separated URLs that works, checked against the
#                            SHA-256), then unpacked by Nix (its single top directory stripped)
#   --file <file>            the Nix file to build (its absolute path goes to nix-build)
#   --input <file>           a file nix-build reads through the others (named only so that
#                            Bazel uploads it; nothing is done with it here)
# Files arrive as paths relative to the input root (remote) or absolute (local). The package's
# name and attribute are the caller's strings: they only ever appear as arguments, never as
# shell code. Needs a shell with `set -o pipefail` (POSIX.1-2024: bash, ksh, zsh, busybox sh,
# dash from 0.5.13; where /bin/sh lacks it, the script runs itself again with bash, ksh or zsh
# from PATH), Nix (nix-build, nix-store, nix-hash, nix-prefetch-url), GNU tar, gzip and base64
# on PATH.
set -eu

fail() {
	code=$1
	shift
	echo "rules_nixstore remote build of $package: $*" >&2
	exit "$code"
}

# A failed stage of a pipeline (nix-store, tar) must fail the build, not leave a short list or
# archive behind. (POSIX.1-2024 has pipefail; shellcheck's POSIX is the earlier one.)
# shellcheck disable=SC3040
if ! (set -o pipefail) 2>/dev/null; then
	for shell in bash ksh zsh; do
		if command -v "$shell" >/dev/null 2>&1; then
			exec "$shell" "$0" "$@"
		fi
	done
	package=$1
	fail 127 "this /bin/sh has no 'set -o pipefail', and neither bash, ksh nor zsh is on PATH ($PATH): put one there (remote_path)."
fi
# shellcheck disable=SC3040
set -o pipefail

package=$1
limit=$2
shift 2
shared_store=
if [ "${1:-}" = --shared-store ]; then
	shared_store=1
	shift
fi

# The absolute directory holding a file.
directory_of() {
	[ -e "$1" ] || fail 2 "input file '$1' is missing on the executor"
	(cd -- "$(dirname -- "$1")" && pwd)
}

absolute() {
	echo "$(directory_of "$1")/$(basename -- "$1")"
}

for tool in nix-build nix-store nix-hash nix-prefetch-url tar gzip base64; do
	command -v "$tool" >/dev/null 2>&1 ||
		fail 127 "'$tool' is not on PATH ($PATH) here. Remotable packages build on an executor with Nix: pick a Nix pool with exec_properties, set remote_path to where Nix is installed there, and build with --experimental_repo_remote_exec and --remote_executor (without an executor this runs on the client, which then needs Nix)."
done

# Nix wants a home for its caches; actions may have none.
if [ -z "${HOME:-}" ] || ! [ -w "${HOME:-/nonexistent}" ]; then
	HOME=${TMPDIR:-$PWD}
	export HOME
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/nixstore-remote-build.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

# The archive at one of the URLs ($2, space-separated) with SHA-256 $1, in the store; prints its path.
fetch_archive() {
	for url in $2; do
		if nix-prefetch-url --print-path "$url" "$1" >"$work/prefetch" 2>>"$work/prefetch.log"; then
			tail -n 1 "$work/prefetch"
			return 0
		fi
	done
	cat "$work/prefetch.log" >&2
	fail 1 "none of these URLs gave an archive with SHA-256 $1: $2"
}

# Rewrite the options into nix-build arguments, in place: each turn takes the first argument
# off and appends what it becomes, so the original arguments go round once.
count=$#
while [ "$count" -gt 0 ]; do
	case $1 in
	--search)
		[ "$count" -ge 3 ] || fail 2 "--search needs a name and a file"
		dir=$(directory_of "$3") || exit $?
		set -- "$@" -I "$2=$dir"
		shift 3
		count=$((count - 3))
		;;
	--search-archive)
		[ "$count" -ge 4 ] || fail 2 "--search-archive needs a name, a SHA-256 and URLs"
		archive=$(fetch_archive "$3" "$4") || exit $?
		set -- "$@" -I "$2=file://$archive"
		shift 4
		count=$((count - 4))
		;;
	--file)
		[ "$count" -ge 2 ] || fail 2 "--file needs a file"
		file=$(absolute "$2") || exit $?
		set -- "$@" "$file"
		shift 2
		count=$((count - 2))
		;;
	--input)
		[ "$count" -ge 2 ] || fail 2 "--input needs a file"
		[ -e "$2" ] || fail 2 "input file '$2' is missing on the executor"
		shift 2
		count=$((count - 2))
		;;
	--)
		shift
		count=$((count - 1))
		;;
	*)
		set -- "$@" "$1"
		shift
		count=$((count - 1))
		;;
	esac
done

nix-build --no-out-link "$@" >"$work/outputs" || fail $? "nix-build failed (see Nix's message above)"
grep '^/nix/store/' "$work/outputs" >"$work/outs" || fail 1 "nix-build printed no store path"
out=$(tail -n 1 "$work/outs")
nix-store --query --requisites "$out" | LC_ALL=C sort >"$work/closure" ||
	fail 1 "listing the closure of $out failed (nix-store --query --requisites, see its message above)"
# shellcheck disable=SC2046 # store paths hold no spaces or glob characters
nix-store --query --hash $(cat "$work/closure") >"$work/hashes"
[ "$(wc -l <"$work/closure")" = "$(wc -l <"$work/hashes")" ] || fail 1 "nix-store --query --hash gave a hash count that differs from the closure's path count"

# Executables whose names a Bazel label can hold (no backslash, colon, control character or
# `...`) and that fit in a word of this ASCII record (printable ASCII, no blank; LC_ALL=C): a
# shared-store package's bin/<name> wrappers, which quote them.
list_executables() {
	[ -d "$out/bin" ] || return 0
	for exe in "$out"/bin/*; do
		if [ ! -f "$exe" ] || [ ! -x "$exe" ]; then continue; fi
		name=${exe##*/}
		case $name in *[![:graph:]]* | *[\\:]* | ...) continue ;; esac
		echo "exe $name"
	done
}

print_header() {
	echo "nixstore-remote-build 2"
	sed 's/^/out /' "$work/outs"
	paste -d ' ' "$work/closure" "$work/hashes" | sed 's/^/path /'
	list_executables
	[ -z "$shared_store" ] || echo "closure shared-store"
	echo "archive $1"
	echo "data"
}

if [ -n "$shared_store" ]; then
	# Keep the closure in the shared store (best effort: the store may be read-only to us).
	roots=/nix/var/nix/gcroots/rules_nixstore
	if mkdir -p "$roots" 2>/dev/null; then
		ln -sfn "$out" "$roots/$(basename -- "$out")" 2>/dev/null || true
	fi
	print_header 0
	exit 0
fi

# Paths relative to / in a fixed order, with fixed owners and times: the same closure gives the
# same archive. Hard links (an optimised store) are stored as files.
sed 's|^/||' "$work/closure" >"$work/members"
tar -C / --create --file=- --format=gnu --sort=name --mtime=@1 --owner=0 --group=0 \
	--numeric-owner --hard-dereference --no-recursion --files-from=/dev/null \
	>/dev/null 2>&1 || fail 1 "this tar is not GNU tar 1.28 or later (--sort=name)"
tar -C / --create --file=- --format=gnu --sort=name --mtime=@1 --owner=0 --group=0 \
	--numeric-owner --hard-dereference --files-from="$work/members" | gzip -n >"$work/closure.tar.gz" ||
	fail 1 "archiving the closure of $out failed (tar or gzip, see the message above)"
size=$(wc -c <"$work/closure.tar.gz")
if [ "$size" -gt "$limit" ]; then
	fail 3 "the closure of $out is $size bytes as a compressed archive, more than the limit of $limit bytes (max_closure_mib). The client's Bazel server peaks at about six times the archive in memory while it decodes it, and the executor's CAS must hold 4/3 of it as one blob: raise max_closure_mib if both allow (Bazel's heap: --host_jvm_args=-Xmx...), or use a smaller package."
fi

sha256=$(nix-hash --type sha256 --flat "$work/closure.tar.gz")
print_header "$size $sha256"
base64 <"$work/closure.tar.gz"
