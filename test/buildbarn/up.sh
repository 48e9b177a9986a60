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
#   NIXSTORE_BB_NIX_POOL        on | off: the Nix pool, actions with
#                               exec_properties {"pool": "nix"}      (on)
#   NIXSTORE_BB_NIX_CONCURRENCY actions the Nix pool runs at once    (2)
#   NIXSTORE_BB_NIX_STORE       the Nix pool's persistent store (its nix/
#                               is /nix for the pool's actions; kept by
#                               down.sh, deleted by down.sh --wipe-nix-store)
#                                            (/var/lib/rules_nixstore-buildbarn/nix-pool)
#   NIXSTORE_BB_NIX_SUBSTITUTERS the pool's nix.conf substituters    (none: offline)
#   NIXSTORE_BB_TIMEOUT         seconds to wait for health           (120)
#   NIXSTORE_BB_CACHE           where build.sh puts binaries         (~/.cache/rules_nixstore/buildbarn)
# If everything but bb_worker runs with the same settings (the worker was
# killed), only bb_worker is started again (with a FUSE worker, bb_runner too).
# Every run ends with the flags a Bazel client needs (stderr), then the
# endpoint (stdout).
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
NIX_POOL=${NIXSTORE_BB_NIX_POOL:-on}
NIX_CONCURRENCY=${NIXSTORE_BB_NIX_CONCURRENCY:-2}
NIX_SUBSTITUTERS=${NIXSTORE_BB_NIX_SUBSTITUTERS:-}

case $NIX_MODE in absent | empty | host) ;; *)
	die "NIXSTORE_BB_NIX must be absent, empty or host (got '$NIX_MODE')" ;;
esac
case $USERNS in allowed | refused) ;; *)
	die "NIXSTORE_BB_USERNS must be allowed or refused (got '$USERNS')" ;;
esac
case $WORKER_KIND in native | fuse) ;; *)
	die "NIXSTORE_BB_WORKER must be native or fuse (got '$WORKER_KIND')" ;;
esac
case $NIX_POOL in on | off) ;; *)
	die "NIXSTORE_BB_NIX_POOL must be on or off (got '$NIX_POOL')" ;;
esac
[ "$WORKER_KIND" = native ] || [ -c /dev/fuse ] || die "NIXSTORE_BB_WORKER=fuse needs the character device /dev/fuse"
[ "$USERNS/$NIX_MODE" != refused/host ] || die "NIXSTORE_BB_USERNS=refused needs NIXSTORE_BB_NIX=absent or empty"
[ "$(id -u)" = 0 ] || die "must run as root (creates user $RUNNER_USER and a mount namespace)"
if [ "$NIX_POOL" = on ]; then
	# The pool's actions see the host's Nix, but not the host's /nix: it must
	# be installed outside /nix, as Debian's nix-bin is (/usr/bin).
	nix_build=$(command -v nix-build) ||
		die "the Nix pool needs Nix on PATH (Debian: apt-get install nix-bin), or NIXSTORE_BB_NIX_POOL=off"
	case $(readlink -f "$nix_build") in /nix/*)
		die "the Nix pool cannot use $nix_build: it lives in the host's /nix, which the pool replaces with its own store; install Nix outside /nix (Debian: apt-get install nix-bin), or NIXSTORE_BB_NIX_POOL=off" ;;
	esac
	NIX_BIN_DIR=$(dirname "$nix_build")
	case $NIX_BIN_DIR in
	/usr/bin | /bin | /usr/local/bin) NIX_PATH_VAR=/usr/local/bin:/usr/bin:/bin ;;
	*) NIX_PATH_VAR=$NIX_BIN_DIR:/usr/local/bin:/usr/bin:/bin ;;
	esac
else
	PROCESSES=(storage frontend scheduler worker runner)
	NIX_PATH_VAR=
fi
QUEUES=1
[ "$NIX_POOL" = off ] || QUEUES=2

mkdir -p "$RUN_DIR"
lock_run_dir

# Already up, with the same settings?
settings="instance=$INSTANCE worker=$WORKER_KIND nix=$NIX_MODE userns=$USERNS runner_user=$RUNNER_USER concurrency=$CONCURRENCY cas_mib=$CAS_MIB nix_pool=$NIX_POOL nix_concurrency=$NIX_CONCURRENCY nix_store=$NIX_STORE_DIR nix_path=$NIX_PATH_VAR nix_substituters=$NIX_SUBSTITUTERS"
alive=0
for p in "${PROCESSES[@]}"; do is_running "$p" && alive=$((alive + 1)); done
BIN=$CACHE/bin
cfg=$RUN_DIR/config
export NIXSTORE_BB_RUN_DIR=$RUN_DIR NIXSTORE_BB_INSTANCE=$INSTANCE NIXSTORE_BB_WORKER=$WORKER_KIND \
	NIXSTORE_BB_CONCURRENCY=$CONCURRENCY NIXSTORE_BB_CAS_MIB=$CAS_MIB \
	NIXSTORE_BB_NIX_POOL=$NIX_POOL NIXSTORE_BB_NIX_CONCURRENCY=$NIX_CONCURRENCY \
	NIXSTORE_BB_NIX_PATH=$NIX_PATH_VAR
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

# client_flags: what a Bazel client needs to use the cluster (stderr; every
# run prints it, also when the cluster was already up).
client_flags() {
	note "Bazel flags: --remote_executor=$ENDPOINT --remote_instance_name=$INSTANCE"
	if [ "$NIX_POOL" = on ]; then
		note "Nix pool: actions whose exec properties are exactly {\"pool\": \"nix\"}: a target's exec_properties = {\"pool\": \"nix\"}; a repository_rule(remotable = True) with --experimental_repo_remote_exec and exec_properties = {\"pool\": \"nix\"}"
		note "Nix pool: $(nix-build --version) on PATH ($NIX_PATH_VAR), store $NIX_STORE_DIR/nix at /nix, shared by its $NIX_CONCURRENCY runner(s) (down.sh --wipe-nix-store deletes it)"
	fi
}

# bb_runner: unprivileged, and (unless NIXSTORE_BB_NIX=host) inside a private
# mount namespace whose root is a tmpfs holding bind mounts of every top-level
# entry of the host's / except /nix; /nix is then absent, an empty directory,
# or (the Nix pool's runner-nix) the pool's store bound read-write. Actions
# are children of bb_runner and see the same view. The new root is entered
# with pivot_root, not chroot: a chrooted process may not create user
# namespaces, which Nix launchers in actions (and Nix's sandbox) need. The
# shell execs setpriv, which execs bb_runner: the pid recorded is bb_runner's.
# NIXSTORE_BB_USERNS=refused makes a worker whose actions may not create user
# namespaces: bb_runner is chrooted into the new root instead, and the kernel
# refuses CLONE_NEWUSER to a chrooted process (EPERM, the errno that
# kernel.unprivileged_userns_clone=0 or Docker's default seccomp profile give).
#
# start_runner NAME: starts bb_runner NAME (runner or runner-nix).
start_runner() {
	local name=$1 cmd
	rm -f "$RUN_DIR/$name/runner.sock"
	cmd=(setpriv --reuid="$RUNNER_UID" --regid="$RUNNER_GID" --init-groups --inh-caps=-all
		"$RUN_DIR/bin/bb_runner" "$cfg/$name.jsonnet")
	if [ "$name" = runner-nix ]; then
		start_in_namespace runner-nix "$NIX_STORE_DIR/nix" allowed "${cmd[@]}"
	elif [ "$NIX_MODE" = host ]; then
		start runner "${cmd[@]}"
	else
		start_in_namespace runner "$NIX_MODE" "$USERNS" "${cmd[@]}"
	fi
}

# start_in_namespace NAME NIX USERNS COMMAND...: starts COMMAND as process NAME
# in the private root described above, built on $RUN_DIR/NAME-root; NIX is
# absent, empty, or a directory to bind read-write at /nix.
start_in_namespace() {
	local name=$1 nix=$2 userns=$3
	shift 3
	# shellcheck disable=SC2016
	start "$name" unshare --mount --propagation private -- /bin/sh -euc '
		root=$1 nix=$2 userns=$3
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
		case $nix in
		absent) ;;
		empty) mkdir -m 0755 "$root/nix" ;;
		*)
			mkdir -m 0755 "$root/nix"
			mount --bind "$nix" "$root/nix"
			;;
		esac
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
	' "$name-ns" "$RUN_DIR/$name-root" "$nix" "$userns" "$@"
}

# start_worker_and_runners: bb_worker, then the runners. A FUSE worker mounts
# its build directory first: the runner's mount namespace (above) copies the
# mounts it finds when it starts, so it must start after the mount exists.
start_worker_and_runners() {
	start worker "$BIN/bb_worker" "$cfg/worker.jsonnet"
	[ "$WORKER_KIND" = native ] || wait_fuse_mounted
	start_runner runner
	[ "$NIX_POOL" = off ] || start_runner runner-nix
}

# prepare_nix_store: the Nix pool's persistent store, $NIX_STORE_DIR/nix
# (nix/store, nix/var/nix), owned by the runner user: single-user Nix, no
# daemon. Kept across restarts, `down.sh` and `down.sh --clean`.
prepare_nix_store() {
	mkdir -p "$NIX_STORE_DIR/nix/store" "$NIX_STORE_DIR/nix/var/nix"
	chmod 0755 "$NIX_STORE_DIR"
	touch "$NIX_STORE_DIR/.rules_nixstore-buildbarn"
	if [ "$(stat -c %u "$NIX_STORE_DIR/nix")" != "$RUNNER_UID" ]; then
		note "giving $NIX_STORE_DIR/nix to $RUNNER_USER ($RUNNER_UID)"
		chown -R "$RUNNER_UID:$RUNNER_GID" "$NIX_STORE_DIR/nix"
	fi
	# Single-user Nix as an unprivileged user: no build users; the sandbox
	# works in a user namespace (the runner is pivot_root'ed, not chrooted),
	# and must not silently fall back to no sandbox. NIX_CONF_DIR points here
	# (worker.jsonnet); the host's /etc/nix is not read.
	mkdir -p "$RUN_DIR/nix-conf"
	chmod 0755 "$RUN_DIR/nix-conf"
	cat >"$RUN_DIR/nix-conf/nix.conf" <<-EOF
		# Written by test/buildbarn/up.sh for the Nix pool (single-user, unprivileged).
		build-users-group =
		sandbox = true
		sandbox-fallback = false
		substituters = $NIX_SUBSTITUTERS
		experimental-features = nix-command
	EOF
	chmod 0644 "$RUN_DIR/nix-conf/nix.conf"
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
		start worker "$BIN/bb_worker" "$cfg/worker.jsonnet"
		wait_fuse_mounted
		start_runner runner
	fi
	wait_healthy worker runner
	[ "$NIX_POOL" = off ] || wait_healthy runner-nix
	wait_registered "$QUEUES"
	client_flags
	echo "$ENDPOINT"
	exit 0
fi
if [ "$alive" = "${#PROCESSES[@]}" ]; then
	if [ "$(cat "$RUN_DIR/settings" 2>/dev/null)" != "$settings" ]; then
		note "running with other settings ($(cat "$RUN_DIR/settings" 2>/dev/null)): restarting"
	elif all_healthy; then
		note "already running (RUN_DIR=$RUN_DIR, logs in $RUN_DIR/logs)"
		client_flags
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
mkdir -p "$RUN_DIR"/{logs,pids,config,bin,runner-root,runner-nix-root} \
	"$RUN_DIR"/storage/{cas,ac}/persistent_state
fresh_worker_dirs
for r in runner runner-nix; do
	rm -rf "${RUN_DIR:?}/$r"
	mkdir -m 0755 "$RUN_DIR/$r"
	chown "$RUNNER_UID:$RUNNER_GID" "$RUN_DIR/$r"
done
[ "$NIX_POOL" = off ] || prepare_nix_store
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
start_worker_and_runners

wait_healthy "${PROCESSES[@]}"
wait_registered "$QUEUES"
note "worker registered; bb_runner runs as $RUNNER_USER ($RUNNER_UID), /nix for actions: $NIX_MODE, user namespaces: $USERNS; Nix pool: $NIX_POOL"
client_flags
echo "$ENDPOINT"
