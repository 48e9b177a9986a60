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
}
