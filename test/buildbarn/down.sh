#!/usr/bin/env bash
# Stops the cluster started by up.sh (fine to call when nothing runs).
#   down.sh          stop; keep CAS/AC and logs in $RUN_DIR
#   down.sh --clean  stop and delete $RUN_DIR
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

clean=
case ${1:-} in
--clean) clean=1 ;;
'') ;;
*) die "usage: $0 [--clean]" ;;
esac

if [ ! -d "$RUN_DIR" ]; then
	note "nothing to stop ($RUN_DIR does not exist)"
	exit 0
fi
lock_run_dir
stop_all
note "stopped"
if [ -n "$clean" ]; then
	# Only delete a directory up.sh made.
	[ -f "$RUN_DIR/.rules_nixstore-buildbarn" ] || die "$RUN_DIR was not made by up.sh; not deleting it"
	rm -rf "$RUN_DIR"
	note "deleted $RUN_DIR"
fi
