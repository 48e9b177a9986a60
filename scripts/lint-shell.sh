#!/usr/bin/env bash
# Runs shellcheck on the shell scripts rules_nixstore ships or runs: scripts/, .ci/run, the rules'
# helper scripts, the Buildbarn test cluster's, and the examples' and e2e's tests (as committed).
# Exits non-zero on any finding; a justified exception is an inline
# `# shellcheck disable=SCxxxx # reason` on the line before the command it concerns.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v shellcheck >/dev/null || {
	echo "lint-shell.sh: shellcheck is not installed (Debian: apt-get install shellcheck; scripts/setup.sh installs it)" >&2
	exit 1
}
mapfile -t scripts < <(
	printf '%s\n' scripts/*.sh scripts/sid scripts/bazel7 .ci/run rules/private/*.sh \
		third_party/offline/remote_coverage_tools/unavailable.sh
	printf '%s\n' test/buildbarn/*.sh | grep -vx test/buildbarn/patches.sh
	git ls-files 'examples/*.sh' 'e2e/*.sh'
)
# -x -P SCRIPTDIR: follow `. "$HERE/lib.sh"` (with its `# shellcheck source=lib.sh`) from the script's directory.
shellcheck -x -P SCRIPTDIR "${scripts[@]}"
# test/buildbarn/patches.sh: its single-quoted strings are perl substitutions, whose $1 is perl's
# (SC2016). The exception is made here, not inline, because the file's bytes are part of the stamp
# of test/buildbarn/build.sh: any edit rebuilds the Buildbarn cluster's binaries on every machine.
shellcheck -x -P SCRIPTDIR --exclude=SC2016 test/buildbarn/patches.sh
echo "shellcheck: $((${#scripts[@]} + 1)) scripts clean"
