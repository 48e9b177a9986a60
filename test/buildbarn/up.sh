#!/usr/bin/env bash
# Starts a Buildbarn cluster on 127.0.0.1 (building it first if needed) and
# prints its endpoint, grpc://127.0.0.1:8980, as the last line of output.
# Running it while the cluster is up starts nothing and prints the same line.
#
# Environment (all optional):
#   RUN_DIR                     state, logs, pid files   (/tmp/rules_nixstore-buildbarn)
#   NIXSTORE_BB_INSTANCE        worker instance name prefix; Bazel passes
#                               --remote_instance_name=<it>          (nixstore)
#   NIXSTORE_BB_NIX             what actions see at /nix: absent | empty | host  (absent)
#   NIXSTORE_BB_USERNS          whether actions may create user namespaces:
#                               allowed | refused                    (allowed)
#   NIXSTORE_BB_RUNNER_USER     unprivileged user bb_runner runs as  (nixstore-runner)
#   NIXSTORE_BB_WORKER          the worker's build directory: native (inputs
#                               hardlinked into a directory per action) | fuse
#                               (a FUSE file system that loads inputs lazily) (native)
#   NIXSTORE_BB_CONCURRENCY     actions run at once                  (2)
#   NIXSTORE_BB_CAS_MIB         CAS size (sparse file)               (4096)
#   NIXSTORE_BB_TIMEOUT         seconds to wait for health           (120)
#   NIXSTORE_BB_CACHE           where build.sh puts binaries         (~/.cache/rules_nixstore/buildbarn)
# If everything but bb_worker runs with the same settings (the worker was
# killed), only bb_worker is started again (with a FUSE worker, bb_runner too).
# Needs root: it creates the runner user and a mount namespace for bb_runner.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

INSTANCE=${NIXSTORE_BB_INSTANCE:-nixstore}
NIX_MODE=${NIXSTORE_BB_NIX:-absent}
RUNNER_USER=${NIXSTORE_BB_RUNNER_USER:-nixstore-runner}
CONCURRENCY=${NIXSTORE_BB_CONCURRENCY:-2}
CAS_MIB=${NIXSTORE_BB_CAS_MIB:-4096}
TIMEOUT=${NIXSTORE_BB_TIMEOUT:-120}
USERNS=${NIXSTORE_BB_USERNS:-allowed}
WORKER_KIND=${NIXSTORE_BB_WORKER:-native}

case $NIX_MODE in absent | empty | host) ;; *)
	die "NIXSTORE_BB_NIX must be absent, empty or host (got '$NIX_MODE')" ;;
esac
case $USERNS in allowed | refused) ;; *)
	die "NIXSTORE_BB_USERNS must be allowed or refused (got '$USERNS')" ;;
esac
case $WORKER_KIND in native | fuse) ;; *)
	die "NIXSTORE_BB_WORKER must be native or fuse (got '$WORKER_KIND')" ;;
esac
[ "$WORKER_KIND" = native ] || [ -c /dev/fuse ] || die "NIXSTORE_BB_WORKER=fuse needs the character device /dev/fuse"
[ "$USERNS/$NIX_MODE" != refused/host ] || die "NIXSTORE_BB_USERNS=refused needs NIXSTORE_BB_NIX=absent or empty"
[ "$(id -u)" = 0 ] || die "must run as root (creates user $RUNNER_USER and a mount namespace)"

mkdir -p "$RUN_DIR"
lock_run_dir

# Already up, with the same settings?
settings="instance=$INSTANCE worker=$WORKER_KIND nix=$NIX_MODE userns=$USERNS runner_user=$RUNNER_USER concurrency=$CONCURRENCY cas_mib=$CAS_MIB"
alive=0
for p in "${PROCESSES[@]}"; do is_running "$p" && alive=$((alive + 1)); done
BIN=$CACHE/bin
cfg=$RUN_DIR/config
export NIXSTORE_BB_RUN_DIR=$RUN_DIR NIXSTORE_BB_INSTANCE=$INSTANCE NIXSTORE_BB_WORKER=$WORKER_KIND \
	NIXSTORE_BB_CONCURRENCY=$CONCURRENCY NIXSTORE_BB_CAS_MIB=$CAS_MIB
# A proxy variable would capture gRPC connections between the processes.
export no_proxy=localhost,127.0.0.1 NO_PROXY=localhost,127.0.0.1
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY grpc_proxy

# The runner user (unprivileged; actions run as it).
if ! id -u "$RUNNER_USER" >/dev/null 2>&1; then
	note "creating system user $RUNNER_USER"
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin "$RUNNER_USER"
fi
RUNNER_UID=$(id -u "$RUNNER_USER")
RUNNER_GID=$(id -g "$RUNNER_USER")
[ "$RUNNER_UID" != 0 ] || die "runner user $RUNNER_USER must not be root"
# A FUSE worker gives the directories it creates to the runner user.
export NIXSTORE_BB_RUNNER_UID=$RUNNER_UID NIXSTORE_BB_RUNNER_GID=$RUNNER_GID

# bb_runner: unprivileged, and (unless NIXSTORE_BB_NIX=host) inside a private
# mount namespace whose root is a tmpfs holding bind mounts of every top-level
# entry of the host's / except /nix; /nix is then absent, or an empty
# directory. Actions are children of bb_runner and see the same view. The new
# root is entered with pivot_root, not chroot: a chrooted process may not
# create user namespaces, which Nix launchers in actions need. The shell execs
# setpriv, which execs bb_runner: the pid recorded is bb_runner's.
# NIXSTORE_BB_USERNS=refused makes a worker whose actions may not create user
# namespaces: bb_runner is chrooted into the new root instead, and the kernel
# refuses CLONE_NEWUSER to a chrooted process (EPERM, the errno that
# kernel.unprivileged_userns_clone=0 or Docker's default seccomp profile give).
#
# start_worker_and_runner: bb_worker, then bb_runner. A FUSE worker mounts its
# build directory first: the runner's mount namespace (below) copies the mounts
# it finds when it starts, so it must start after the mount exists.
start_worker_and_runner() {
	start worker "$BIN/bb_worker" "$cfg/worker.jsonnet"
	[ "$WORKER_KIND" = native ] || wait_fuse_mounted
	rm -f "$RUN_DIR/runner/runner.sock"
	runner=(setpriv --reuid="$RUNNER_UID" --regid="$RUNNER_GID" --init-groups --inh-caps=-all
		"$RUN_DIR/bin/bb_runner" "$cfg/runner.jsonnet")
	if [ "$NIX_MODE" = host ]; then
		start runner "${runner[@]}"
	else
		# shellcheck disable=SC2016
		start runner unshare --mount --propagation private -- /bin/sh -euc '
			root=$1 mode=$2 userns=$3
			shift 3
			mount -t tmpfs -o mode=0755 nixstore-runner-root "$root"
			for entry in /* /.[!.]*; do
				[ -e "$entry" ] || [ -L "$entry" ] || continue
				name=${entry#/}
				[ "$name" = nix ] && continue
				if [ -L "$entry" ]; then
					cp -P "$entry" "$root/$name"
				elif [ -d "$entry" ]; then
					mkdir "$root/$name"
					mount --rbind "$entry" "$root/$name"
				else
					: >"$root/$name"
					mount --bind "$entry" "$root/$name"
				fi
			done
			if [ "$mode" = empty ]; then mkdir -m 0755 "$root/nix"; fi
			if [ "$userns" = refused ]; then exec chroot "$root" "$@"; fi
			mkdir "$root/.pivot-old"
			cd "$root"
			pivot_root . .pivot-old
			cd /
			umount -l /.pivot-old
			rmdir /.pivot-old
			# The copy of the new root seen through the bind mount of its parent.
			umount -l "$root" 2>/dev/null || true
			exec "$@"
		' runner-ns "$RUN_DIR/runner-root" "$NIX_MODE" "$USERNS" "${runner[@]}"
	fi
}

if [ "$alive" = $((${#PROCESSES[@]} - 1)) ] && ! is_running worker &&
	[ "$(cat "$RUN_DIR/settings" 2>/dev/null)" = "$settings" ]; then
	# The worker alone is gone (killed, crashed): start it again, with empty
	# build and cache directories; the scheduler requeues what it was running.
	note "bb_worker is not running: starting it again"
	if [ "$WORKER_KIND" = native ]; then
		fresh_worker_dirs
		start worker "$BIN/bb_worker" "$cfg/worker.jsonnet"
	else
		# The runner's namespace holds a copy of the dead worker's FUSE mount,
		# which never comes back: the runner starts again after the new mount.
		note "FUSE worker: bb_runner is started again too"
		stop_one runner
		fresh_worker_dirs
		start_worker_and_runner
	fi
	wait_healthy worker runner
	wait_registered
	echo "$ENDPOINT"
	exit 0
fi
if [ "$alive" = "${#PROCESSES[@]}" ]; then
	if [ "$(cat "$RUN_DIR/settings" 2>/dev/null)" != "$settings" ]; then
		note "running with other settings ($(cat "$RUN_DIR/settings" 2>/dev/null)): restarting"
	elif all_healthy; then
		note "already running (RUN_DIR=$RUN_DIR, logs in $RUN_DIR/logs)"
		echo "$ENDPOINT"
		exit 0
	else
		note "running but not healthy: restarting"
	fi
fi
if [ "$alive" != 0 ]; then
	note "stopping $alive running process(es) of an earlier start"
	stop_all
fi

# Ports must be free (another cluster, or something else, may hold them).
for port in "${ALL_PORTS[@]}"; do
	if ss -Hltn "sport = :$port" | grep -q .; then
		die "port $port on this machine is already in use: $(ss -Hltnp "sport = :$port" | head -1)"
	fi
done

"$HERE/build.sh"

# State. Each start begins with an empty build and cache directory; CAS and
# AC persist across restarts (persistent_state), `down.sh --clean` wipes them.
touch "$RUN_DIR/.rules_nixstore-buildbarn"
chmod 0755 "$RUN_DIR"
mkdir -p "$RUN_DIR"/{logs,pids,config,bin,runner-root} \
	"$RUN_DIR"/storage/{cas,ac}/persistent_state "$RUN_DIR"/worker
fresh_worker_dirs
rm -rf "$RUN_DIR/runner"
mkdir -m 0755 "$RUN_DIR/runner"
chown "$RUNNER_UID:$RUNNER_GID" "$RUN_DIR/runner"
# Configs and bb_runner are copied where the runner user can read them
# (the build cache is usually under root's 0700 home).
cp "$HERE"/*.jsonnet "$HERE"/common.libsonnet "$RUN_DIR/config/"
chmod 0644 "$RUN_DIR"/config/*
install -m 0755 "$BIN/bb_runner" "$RUN_DIR/bin/bb_runner"
# Every directory above the build directory must be traversable by the runner.
d=$RUN_DIR
while [ "$d" != / ]; do
	if ! setpriv --reuid="$RUNNER_UID" --regid="$RUNNER_GID" --clear-groups test -x "$d"; then
		die "$d is not searchable by $RUNNER_USER; choose another RUN_DIR"
	fi
	d=$(dirname "$d")
done

echo "$settings" >"$RUN_DIR/settings"

start storage "$BIN/bb_storage" "$cfg/storage.jsonnet"
start frontend "$BIN/bb_storage" "$cfg/frontend.jsonnet"
start scheduler "$BIN/bb_scheduler" "$cfg/scheduler.jsonnet"
start_worker_and_runner

wait_healthy "${PROCESSES[@]}"
wait_registered
note "worker registered; bb_runner runs as $RUNNER_USER ($RUNNER_UID), /nix for actions: $NIX_MODE, user namespaces: $USERNS"
note "Bazel: --remote_executor=$ENDPOINT --remote_instance_name=$INSTANCE"
echo "$ENDPOINT"
