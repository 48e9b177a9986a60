// bb_runner: started by up.sh as an unprivileged user, inside a mount
// namespace whose root is made of bind mounts of the host's top-level
// directories, without /nix (or with an empty /nix: NIXSTORE_BB_NIX=empty).
// Actions run directly in that file system view (no chroot into the input root).
local common = import 'common.libsonnet';

{
  buildDirectoryPath: common.buildDirectory,
  global: common.global(common.ports.runnerDiag),
  grpcServers: [{
    listenPaths: [common.runnerSocket],
    authenticationPolicy: common.allow,
  }],
  // TMPDIR points into the action's own directory, removed after the action.
  setTmpdirEnvironmentVariable: true,
}
