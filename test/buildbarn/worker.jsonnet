// bb_worker (runs as root): fetches inputs into a native (hardlinking) build
// directory and asks bb_runner, over a UNIX socket, to run the command.
local common = import 'common.libsonnet';

{
  blobstore: common.storageBlobstore,
  browserUrl: 'http://' + common.addr(common.ports.schedulerAdmin),
  maximumMessageSizeBytes: common.maximumMessageSizeBytes,
  scheduler: common.grpcClient(common.ports.schedulerWorkers),
  global: common.global(common.ports.workerDiag) + {
    // bb_runner runs as another (non-root) user: directories the worker
    // creates in the build directory must be writable by it (0777).
    setUmask: { umask: 0 },
  },
  buildDirectories: [{
    native: {
      buildDirectoryPath: common.buildDirectory,
      cacheDirectoryPath: common.cacheDirectory,
      maximumCacheFileCount: 10000,
      maximumCacheSizeBytes: 1024 * 1024 * 1024,
      cacheReplacementPolicy: 'LEAST_RECENTLY_USED',
    },
    runners: [{
      endpoint: { address: 'unix:' + common.runnerSocket },
      concurrency: std.parseInt(std.extVar('NIXSTORE_BB_CONCURRENCY')),
      // Actions must ask for exactly this platform: none (no exec
      // properties) by default.
      platform: {},
      // Bazel must pass --remote_instance_name=<this> (or below it).
      instanceNamePrefix: common.instanceName,
      maximumFilePoolFileCount: 10000,
      maximumFilePoolSizeBytes: 1024 * 1024 * 1024,
      workerId: { host: 'localhost', runner: 'nixstore-runner' },
    }],
  }],
  filePool: {
    blockDevice: {
      file: { path: common.runDir + '/worker/filepool', sizeBytes: 1024 * 1024 * 1024 },
    },
  },
  inputDownloadConcurrency: 8,
  outputUploadConcurrency: 8,
  directoryCache: {
    maximumCount: 1000,
    maximumSizeBytes: 1000 * 1024,
    cacheReplacementPolicy: 'LEAST_RECENTLY_USED',
  },
  // Bazel < 6.3 (e.g. Debian's 4.2.3) sends REv2.0 output_files and
  // output_directories instead of output_paths.
  supportLegacyOutputFilesAndDirectories: true,
}
