#!/bin/sh
# Brings store paths from the machine cache into an output base's chroot Nix store (see
# machine_cache.bzl): their files as hard links (new directories, shared read-only files), or as
# copies when the two stores are on different file systems, then their registration (NAR hash,
# references, deriver) copied from the cache's database into the output base's.
#
#   machine_cache_import.sh CACHE_ROOT OUTPUT_BASE_ROOT NIX_STORE STORE_PATH...
#
# Every argument arrives as argv, never through a shell string. Prints "linked N" or "copied N"
# (N paths imported; 0 when the output base's store held them all already). Runs under an
# exclusive lock of the output base's store (its package repositories are fetched in parallel)
# and a shared lock of the cache (`nixgen gc --machine-cache` takes it exclusively).
set -eu
cache=$1 ob=$2 nix_store=$3
shift 3
nix() { "$nix_store" --option build-users-group "" "$@"; }

# Never unlocked: without flock, concurrent imports would copy into the same paths and load the
# same registrations, and a pruning could delete what is being linked.
if ! command -v flock >/dev/null; then
	echo "machine_cache_import.sh: flock is not on PATH ($PATH): the machine cache $cache and the output base's store $ob are locked with it while paths are brought in, and this does not run unlocked. Install flock (Debian and Ubuntu: apt-get install util-linux) or put it on the PATH that Bazel fetches with (--repo_env=PATH=...)." >&2
	exit 127
fi
exec 8>>"$cache/nix/var/nix/.rules_nixstore-cache.lock" 9>>"$ob/nix/var/nix/.rules_nixstore-import.lock"
flock -s 8
flock 9

# Store path names hold no blanks or shell patterns, so word splitting is safe here.
missing=$(nix --store "$ob" --check-validity --print-invalid "$@")
if [ -z "$missing" ]; then
	echo "linked 0"
	exit 0
fi

# Hard links need one mounted file system (a bind mount of the same disk counts as another one):
# a probe link between the two stores' state directories tells.
how=copied
link=
probe=nix/var/nix/.rules_nixstore-probe.$$
: >"$cache/$probe"
if ln "$cache/$probe" "$ob/$probe" 2>/dev/null; then
	how=linked
	link=--link
fi
rm -f "$cache/$probe" "$ob/$probe"

n=0
for p in $missing; do
	to=$ob$p
	# Present but unregistered: brought in whole by a fetch's fast path (`enter --import`, which
	# checked its NAR hash and renamed it into place): only its registration is missing.
	if [ -e "$to" ] || [ -L "$to" ]; then
		continue
	fi
	# Copied under a fresh name and renamed into place: a path is whole or absent.
	tmp=$ob/nix/store/.import-$$-${p##*/}
	# shellcheck disable=SC2086 # $link is one option or none
	cp -a $link "$cache$p" "$tmp"
	if ! mv -T "$tmp" "$to" 2>/dev/null; then
		# Another fetch brought it in meanwhile. Only directories are made writable: the files
		# are hard links of the cache's, whose modes must not change.
		find "$tmp" -type d -exec chmod u+w {} +
		rm -rf "$tmp"
		continue
	fi
	n=$((n + 1))
done

db=$ob/nix/var/nix/.rules_nixstore-import.$$
trap 'rm -f "$db"' EXIT
# shellcheck disable=SC2086
nix --store "$cache" --dump-db $missing >"$db"
nix --store "$ob" --load-db <"$db"
echo "$how $n"
