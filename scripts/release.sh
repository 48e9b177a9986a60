#!/usr/bin/env bash
# Makes the Bazel module's source archive of a release from the committed tree (HEAD):
#
#   scripts/release.sh VERSION [OUT_DIR]     e.g. scripts/release.sh 0.1.0
#
# writes OUT_DIR/rules_nixstore-VERSION.tar.gz (OUT_DIR defaults to dist/release), whose top
# directory is rules_nixstore-VERSION/, and prints on stdout
#
#   archive: <absolute path>
#   integrity: sha256-<base64>
#   strip_prefix: rules_nixstore-VERSION
#
# (the integrity and strip_prefix of the registry's source.json; .bcr/ holds the templates).
# The archive holds what a module consumer needs — MODULE.bazel, WORKSPACE, rules/, README.md,
# LICENSE when there is one — and e2e/smoke, the BCR test module (.bcr/presubmit.yml), which
# reaches the module as local_path_override(path = "../.."). Tests, nixgen, benchmarks and
# examples are left out. Refused: a VERSION other than package.json's and MODULE.bazel's, and
# uncommitted changes to tracked files (untracked files are not in the archive; ignored).
#
# Deterministic: the same commit gives the same bytes. git archive takes mtimes from the
# commit, writes owner root (0/0) and tree (sorted) order; modes 644/755 and LF line ends are
# set here (tar.umask, core.autocrlf, core.eol), not taken from the user's git config; gzip -n
# stores no name or time.
set -euo pipefail

NAME=rules_nixstore
CONTENTS=(MODULE.bazel WORKSPACE README.md rules e2e/smoke)

die() {
	printf 'release.sh: %s\n' "$*" >&2
	exit 1
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "usage: scripts/release.sh VERSION [OUT_DIR]  (e.g. 0.1.0)"; fi
version=${1#v}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] ||
	die "'$1' is not a version: give MAJOR.MINOR.PATCH (e.g. 0.1.0), as in package.json and MODULE.bazel"
out_dir=${2:-}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
git rev-parse --verify -q HEAD >/dev/null || die "$repo is not a git checkout with a commit"

# Only committed content is released: refuse changes to tracked files, staged or not.
git update-index -q --refresh >/dev/null 2>&1 || true
if ! git diff-index --quiet HEAD --; then
	git status --short --untracked-files=no >&2
	die "the tree has uncommitted changes (above): commit or set them aside, then run again." \
		"The archive is made from HEAD only."
fi

# The version of the commit's package.json (its top-level "version", the first one) and of
# MODULE.bazel's module() call.
pkg_version=$(git show HEAD:package.json | grep -m1 -oE '"version"[[:space:]]*:[[:space:]]*"[^"]*"' |
	sed -E 's/.*"([^"]*)"$/\1/' || true)
module_version=$(git show HEAD:MODULE.bazel | sed -n '/^module(/,/^)/p' |
	grep -m1 -oE '^[[:space:]]*version[[:space:]]*=[[:space:]]*"[^"]*"' | sed -E 's/.*"([^"]*)"$/\1/' || true)
[ -n "$pkg_version" ] || die "package.json has no \"version\""
[ -n "$module_version" ] || die "MODULE.bazel's module() has no version = \"...\""
if [ "$version" != "$pkg_version" ] || [ "$version" != "$module_version" ]; then
	die "version $version does not match the commit: package.json has $pkg_version, MODULE.bazel" \
		"has $module_version. Set package.json's \"version\" to $version, run 'npm run generate'" \
		"(it renders MODULE.bazel from it), commit both, and run again."
fi

if git cat-file -e HEAD:LICENSE 2>/dev/null; then CONTENTS+=(LICENSE); fi
for path in "${CONTENTS[@]}"; do
	git cat-file -e "HEAD:$path" 2>/dev/null || die "$path is not in the commit; the archive needs it"
done

prefix=$NAME-$version
mkdir -p "${out_dir:=$repo/dist/release}"
out_dir=$(cd "$out_dir" && pwd)
archive=$out_dir/$prefix.tar.gz
tmp=$archive.tmp.$$
trap 'rm -f "$tmp"' EXIT
git -c tar.umask=0022 -c core.autocrlf=false -c core.eol=lf archive --format=tar --prefix="$prefix/" HEAD -- "${CONTENTS[@]}" | gzip -n -9 >"$tmp"
mv "$tmp" "$archive"
trap - EXIT

hex=$(sha256sum "$archive" | cut -c1-64)
# shellcheck disable=SC2059 # the format is the digest as \xHH escapes
integrity=sha256-$(printf "$(printf '%s' "$hex" | sed 's/../\\x&/g')" | base64 -w0)
printf 'archive: %s\nintegrity: %s\nstrip_prefix: %s\n' "$archive" "$integrity" "$prefix"
