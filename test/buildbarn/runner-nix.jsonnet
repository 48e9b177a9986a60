// bb_runner of the Nix pool: started by up.sh as the same unprivileged user,
// in a mount namespace like the default runner's, but whose /nix is the
// pool's persistent store (NIXSTORE_BB_NIX_STORE), bound read-write: actions
// run Debian's Nix in single-user mode, without a daemon.
local common = import 'common.libsonnet';

common.runner(common.nixPool.buildDirectory, common.nixPool.runnerSocket, common.ports.runnerNixDiag)
