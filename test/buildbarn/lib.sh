# shellcheck shell=bash
# Shared by up.sh and down.sh.

RUN_DIR=${RUN_DIR:-/tmp/rules_nixstore-buildbarn}
case $RUN_DIR in /*) ;; *) RUN_DIR=$PWD/$RUN_DIR ;; esac
# shellcheck disable=SC2034 # read by up.sh, which sources this file
CACHE=${NIXSTORE_BB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rules_nixstore/buildbarn}
# shellcheck disable=SC2034 # read by up.sh
ENDPOINT=grpc://127.0.0.1:8980
SCHEDULER_ADMIN_PORT=7982
# The Nix pool's persistent store (holds nix/store and nix/var/nix); outlives
# $RUN_DIR: only `down.sh --wipe-nix-store` deletes it.
NIX_STORE_DIR=${NIXSTORE_BB_NIX_STORE:-/var/lib/rules_nixstore-buildbarn/nix-pool}
case $NIX_STORE_DIR in /*) ;; *) NIX_STORE_DIR=$PWD/$NIX_STORE_DIR ;; esac
# Start order (up.sh drops runner-nix when NIXSTORE_BB_NIX_POOL=off).
PROCESSES=(storage frontend scheduler worker runner runner-nix)
# Stop order: the worker first, while the scheduler can still take its last
# synchronization and the runners can still finish an action.
STOP_ORDER=(worker runner runner-nix scheduler frontend storage)
# Every port the cluster listens on (keep in sync with common.libsonnet).
# shellcheck disable=SC2034 # read by up.sh
ALL_PORTS=(8980 8981 8982 8983 7982 9980 9981 9982 9986 9987 9988)

note() { echo "buildbarn: $*" >&2; }
die() {
	note "error: $*"
	exit 1
}

diag_port() {
	case $1 in
	frontend) echo 9980 ;; storage) echo 9981 ;; scheduler) echo 9982 ;;
	worker) echo 9986 ;; runner) echo 9987 ;; runner-nix) echo 9988 ;;
	esac
}
# Name the kernel gives each process (/proc/PID/comm), to avoid acting on a
# recycled pid.
comm_of() {
	case $1 in
	storage | frontend) echo bb_storage ;; runner-nix) echo bb_runner ;; *) echo "bb_$1" ;;
	esac
}

pid_of() { cat "$RUN_DIR/pids/$1.pid" 2>/dev/null; }
# zombie PID: the process has exited but nobody reaped it (an init that does not
# reap orphans, as in some containers); it counts as gone.
zombie() { [ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)" = Z ]; }
# is_running NAME: the recorded pid is still ours: either the bb_* binary, or
# (while starting) one of the setsid/unshare/sh/setpriv steps that exec it,
# whose command line names our config directory.
is_running() {
	local pid
	pid=$(pid_of "$1") || return 1
	[ -n "$pid" ] || return 1
	! zombie "$pid" || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$(comm_of "$1")" ] && return 0
	tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qxF "$RUN_DIR/config/$1.jsonnet"
}
pid_alive() {
	local pid
	pid=$(pid_of "$1") || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && ! zombie "$pid"
}
healthy() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/-/healthy" 2>/dev/null; }
all_healthy() {
	local p
	for p in "${PROCESSES[@]}"; do healthy "$(diag_port "$p")" || return 1; done
}

# stop_one NAME: SIGTERM, SIGKILL after 15 s.
stop_one() {
	local p=$1 pid t
	if is_running "$p"; then
		pid=$(pid_of "$p")
		note "stopping $p (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for ((t = 0; t < 30; t++)); do
			is_running "$p" || break
			sleep 0.5
		done
		if is_running "$p"; then
			note "$p still running after 15s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$RUN_DIR/pids/$p.pid"
	case $p in
	runner | runner-nix) rm -f "$RUN_DIR/$p/runner.sock" ;;
	worker) unmount_build_dir ;;
	esac
}

# stop_all: every process, in STOP_ORDER.
stop_all() {
	local p
	for p in "${STOP_ORDER[@]}"; do stop_one "$p"; done
}

# unmount_build_dir: removes what a FUSE worker left mounted on its build
# directory (a worker that was killed leaves a mount whose every access fails
# with ENOTCONN); nothing for a native worker.
unmount_build_dir() {
	local dir=$RUN_DIR/worker/build
	while findmnt --mountpoint "$dir" >/dev/null 2>&1; do
		umount -l "$dir" || die "cannot unmount $dir"
	done
}

# lock_run_dir: serialize up.sh and down.sh on $RUN_DIR/.lock (fd 8).
lock_run_dir() {
	# Without flock, `if ! flock` would report a holder that does not exist.
	command -v flock >/dev/null || die "flock (Debian: util-linux) is missing: up.sh and down.sh serialise on $RUN_DIR/.lock with it"
	exec 8>"$RUN_DIR/.lock"
	if ! flock -w 300 8; then
		die "another up.sh/down.sh holds $RUN_DIR/.lock for 5 minutes (holders: $(fuser "$RUN_DIR/.lock" 2>/dev/null))"
	fi
}

# start NAME COMMAND...: runs COMMAND in a new session, logging to logs/NAME.log.
start() {
	local name=$1
	shift
	local logf=$RUN_DIR/logs/$name.log
	[ -f "$logf" ] && mv -f "$logf" "$logf.prev"
	echo "=== $(date -u +%FT%TZ) up.sh: $*" >"$logf"
	# The cluster keeps no descriptor but 0-2: not up.sh's lock (fd 8), nor one
	# a caller holds, e.g. `flock /tmp/nixstore-remote-tests.lock` (fd 3), which
	# a cluster left running would otherwise hold until it stops.
	(
		cd "$RUN_DIR" || exit 1
		for fd in /proc/"$BASHPID"/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		exec setsid "$@" </dev/null >>"$logf" 2>&1
	) &
	echo $! >"$RUN_DIR/pids/$name.pid"
	note "started $name (pid $!)"
}

# fresh_worker_dirs: empty build, cache and (FUSE worker) local CAS directories
# for a starting bb_worker, for both pools.
fresh_worker_dirs() {
	unmount_build_dir
	rm -rf "$RUN_DIR/worker/build" "$RUN_DIR/worker/cache" "$RUN_DIR/worker/cas" \
		"$RUN_DIR/worker-nix/build" "$RUN_DIR/worker-nix/cache"
	mkdir -p "$RUN_DIR/worker" "$RUN_DIR/worker-nix"
	mkdir -m 0755 "$RUN_DIR/worker/build" "$RUN_DIR/worker-nix/build"
	mkdir -m 0700 "$RUN_DIR/worker/cache" "$RUN_DIR/worker/cas" "$RUN_DIR/worker-nix/cache"
}

# wait_healthy NAME...: waits until each process answers /-/healthy; on a
# process exit or after $TIMEOUT seconds, stops the cluster and fails.
wait_healthy() {
	local p port deadline
	deadline=$(($(date +%s) + TIMEOUT))
	for p in "$@"; do
		port=$(diag_port "$p")
		until healthy "$port"; do
			if ! pid_alive "$p"; then
				note "$p exited; last lines of $RUN_DIR/logs/$p.log:"
				tail -n 20 "$RUN_DIR/logs/$p.log" >&2 || true
				stop_all
				die "$p failed to start (log: $RUN_DIR/logs/$p.log)"
			fi
			if [ "$(date +%s)" -ge "$deadline" ]; then
				note "last lines of $RUN_DIR/logs/$p.log:"
				tail -n 20 "$RUN_DIR/logs/$p.log" >&2 || true
				stop_all
				die "$p did not answer http://127.0.0.1:$port/-/healthy within ${TIMEOUT}s (log: $RUN_DIR/logs/$p.log)"
			fi
			sleep 0.5
		done
		note "$p healthy (diagnostics on 127.0.0.1:$port)"
	done
}

# wait_fuse_mounted: waits until bb_worker has mounted its FUSE file system on
# the build directory (before bb_runner starts, whose mount namespace copies it).
wait_fuse_mounted() {
	local dir=$RUN_DIR/worker/build deadline
	deadline=$(($(date +%s) + TIMEOUT))
	until [[ $(findmnt -rn -o FSTYPE --mountpoint "$dir" 2>/dev/null) == fuse* ]]; do
		if ! pid_alive worker || [ "$(date +%s)" -ge "$deadline" ]; then
			note "last lines of $RUN_DIR/logs/worker.log:"
			tail -n 20 "$RUN_DIR/logs/worker.log" >&2 || true
			stop_all
			die "bb_worker did not mount a FUSE file system on $dir (log: $RUN_DIR/logs/worker.log)"
		fi
		sleep 0.2
	done
}

# wait_registered QUEUES: the worker must also have registered with the
# scheduler, or the first Execute fails with "No workers exist for instance
# name prefix". The admin page lists each platform queue's instance name
# prefix, quoted: QUEUES of them (one per pool), one of whose links names the
# property "pool" when there are two.
wait_registered() {
	local queues=$1 deadline
	deadline=$(($(date +%s) + TIMEOUT))
	until registered "$queues"; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			stop_all
			die "the worker did not register with the scheduler within ${TIMEOUT}s (logs: $RUN_DIR/logs/worker.log, scheduler.log)"
		fi
		sleep 0.5
	done
}

# registered QUEUES: whether the scheduler's admin page shows QUEUES platform
# queues of our instance name (and, for two, the Nix pool's).
registered() {
	local page
	page=$(curl -fsS "http://127.0.0.1:$SCHEDULER_ADMIN_PORT/" 2>/dev/null) || return 1
	[ "$(grep -oF "&#34;$INSTANCE&#34;" <<<"$page" | wc -l)" -ge "$1" ] || return 1
	[ "$1" = 1 ] || grep -qF '%22pool%22' <<<"$page"
}
