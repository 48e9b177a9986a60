#!/usr/bin/env bash
# Stops the cluster started by up.sh (fine to call when nothing runs).
#   down.sh                   stop; keep CAS/AC and logs in $RUN_DIR
#   down.sh --clean           stop and delete $RUN_DIR
#   down.sh --wipe-nix-store  stop and delete the Nix pool's persistent store
#                             ($NIXSTORE_BB_NIX_STORE), which --clean keeps
# The two options may be given together.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

clean='' wipe_store=''
for arg in "$@"; do
	case $arg in
	--clean) clean=1 ;;
	--wipe-nix-store) wipe_store=1 ;;
	*) die "usage: $0 [--clean] [--wipe-nix-store]" ;;
	esac
done

if [ -d "$RUN_DIR" ]; then
	lock_run_dir
	stop_all
	note "stopped"
else
	note "nothing to stop ($RUN_DIR does not exist)"
fi
if [ -n "$clean" ] && [ -d "$RUN_DIR" ]; then
	# Only delete a directory up.sh made.
	[ -f "$RUN_DIR/.rules_nixstore-buildbarn" ] || die "$RUN_DIR was not made by up.sh; not deleting it"
	rm -rf "$RUN_DIR"
	note "deleted $RUN_DIR"
fi
if [ -n "$wipe_store" ] && [ -d "$NIX_STORE_DIR" ]; then
	[ -f "$NIX_STORE_DIR/.rules_nixstore-buildbarn" ] || die "$NIX_STORE_DIR was not made by up.sh; not deleting it"
	rm -rf "$NIX_STORE_DIR"
	note "deleted the Nix pool's store $NIX_STORE_DIR"
fi
