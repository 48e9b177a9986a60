// bb_runner of the default pool: started by up.sh as an unprivileged user,
// inside a mount namespace whose root is made of bind mounts of the host's
// top-level directories, without /nix (or with an empty /nix:
// NIXSTORE_BB_NIX=empty).
local common = import 'common.libsonnet';

common.runner(common.buildDirectory, common.runnerSocket, common.ports.runnerDiag)
