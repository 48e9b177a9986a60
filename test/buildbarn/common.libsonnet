// Shared settings of the loopback Buildbarn cluster. up.sh sets the
// environment variables read here (bb_* binaries expose every environment
// variable to Jsonnet as std.extVar).
local runDir = std.extVar('NIXSTORE_BB_RUN_DIR');

{
  runDir: runDir,
  instanceName: std.extVar('NIXSTORE_BB_INSTANCE'),
  // Everything listens on loopback only.
  host: '127.0.0.1',
  ports: {
    frontend: 8980,  // Bazel connects here.
    storage: 8981,
    schedulerClients: 8982,
    schedulerWorkers: 8983,
    schedulerAdmin: 7982,
    // Diagnostics HTTP servers (/-/healthy, /metrics).
    frontendDiag: 9980,
    storageDiag: 9981,
    schedulerDiag: 9982,
    workerDiag: 9986,
    runnerDiag: 9987,
    runnerNixDiag: 9988,
  },
  addr(port):: self.host + ':' + port,

  allow: { allow: {} },
  grpcServer(port):: {
    listenAddresses: [$.addr(port)],
    authenticationPolicy: $.allow,
  },
  global(diagPort):: {
    diagnosticsHttpServer: {
      httpServers: [{
        listenAddresses: [$.addr(diagPort)],
        authenticationPolicy: $.allow,
      }],
      enablePrometheus: true,
    },
  },
  grpcClient(port):: { address: $.addr(port) },

  // What the scheduler and the worker use to reach the storage process.
  storageBlobstore:: {
    contentAddressableStorage: { grpc: { client: $.grpcClient($.ports.storage) } },
    actionCache: { grpc: { client: $.grpcClient($.ports.storage) } },
  },
  maximumMessageSizeBytes: 16 * 1024 * 1024,

  // Worker build and cache directories (same file system: the cache is
  // hardlinked into build directories).
  buildDirectory: runDir + '/worker/build',
  cacheDirectory: runDir + '/worker/cache',
  runnerSocket: runDir + '/runner/runner.sock',

  // The Nix pool (NIXSTORE_BB_NIX_POOL=on): a second build directory of the
  // same bb_worker, whose actions a second bb_runner (runner-nix) runs.
  nixPool: {
    buildDirectory: runDir + '/worker-nix/build',
    cacheDirectory: runDir + '/worker-nix/cache',
    runnerSocket: runDir + '/runner-nix/runner.sock',
  },

  // A bb_runner configuration: actions run directly in the runner's file
  // system view (no chroot into the input root), with TMPDIR in the action's
  // own directory, which is removed after the action.
  runner(buildDirectory, socket, diagPort):: {
    buildDirectoryPath: buildDirectory,
    global: $.global(diagPort),
    grpcServers: [{
      listenPaths: [socket],
      authenticationPolicy: $.allow,
    }],
    setTmpdirEnvironmentVariable: true,
  },
}
