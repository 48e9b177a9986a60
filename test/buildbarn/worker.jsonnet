// bb_worker (runs as root): gives each action an input root in its build
// directory and asks bb_runner, over a UNIX socket, to run the command.
// NIXSTORE_BB_WORKER picks the build directory:
// - native: every input is hardlinked from a local cache into a directory per
//   action, and the directory is deleted afterwards (cost grows with the number
//   of input files, whether the action reads them or not);
// - fuse: the build directory is a FUSE file system served by bb_worker itself;
//   an input root appears at once, and a file's contents are fetched from the
//   CAS when the action first reads it.
// With NIXSTORE_BB_NIX_POOL=on, a second (native) build directory serves the
// Nix pool: actions whose platform is exactly {pool: nix} run there, through
// runner-nix, which sees Nix on PATH and the pool's persistent store at /nix.
local common = import 'common.libsonnet';

local kind = std.extVar('NIXSTORE_BB_WORKER');

local native = {
  native: {
    buildDirectoryPath: common.buildDirectory,
    cacheDirectoryPath: common.cacheDirectory,
    maximumCacheFileCount: 10000,
    maximumCacheSizeBytes: 1024 * 1024 * 1024,
    cacheReplacementPolicy: 'LEAST_RECENTLY_USED',
  },
};

local fuse = {
  virtual: {
    mount: {
      mountPath: common.buildDirectory,
      fuse: {
        // Input roots never change while an action runs: let the kernel
        // cache names and attributes (bb-deployments uses the same).
        directoryEntryValidity: '300s',
        inodeAttributeValidity: '300s',
        // bb_runner and its actions run as another user than bb_worker.
        allowOther: true,
        // mount(2) directly (bb_worker runs as root): no fusermount needed.
        mountMethod: 'DIRECT',
      },
    },
    // Time an action spends waiting for lazily fetched inputs is given back
    // to its timeout, up to this much.
    maximumExecutionTimeoutCompensation: '3600s',
    maximumWritableFileUploadDelay: '60s',
  },
};

// A FUSE worker reads a file's contents when an action reads them, in pages,
// which needs fast random access to blobs. Read straight from the storage
// process over gRPC, an action of hello (reading glibc) spent ~0.7 s running
// instead of ~0.03 s (bench/README.md). So, as bb-deployments' FUSE workers
// do, the worker keeps a local CAS that blobs are copied into on first use
// (sparse file under worker/cas, emptied at each start like the build directory).
local workerCas = common.runDir + '/worker/cas';
local casBytes = std.parseInt(std.extVar('NIXSTORE_BB_CAS_MIB')) * 1024 * 1024;
local readCachingCas = {
  readCaching: {
    slow: common.storageBlobstore.contentAddressableStorage,
    fast: {
      'local': {
        keyLocationMapOnBlockDevice: {
          file: { path: workerCas + '/key_location_map', sizeBytes: 64 * 1024 * 1024 },
        },
        keyLocationMapMaximumGetAttempts: 16,
        keyLocationMapMaximumPutAttempts: 64,
        oldBlocks: 2,
        currentBlocks: 8,
        newBlocks: 1,
        blocksOnBlockDevice: {
          source: { file: { path: workerCas + '/blocks', sizeBytes: casBytes } },
          spareBlocks: 2,
          // Without it every read of a page would check the whole blob's hash.
          dataIntegrityValidationCache: {
            cacheSize: 100000,
            cacheDuration: '14400s',
            cacheReplacementPolicy: 'LEAST_RECENTLY_USED',
          },
        },
      },
    },
    replicator: { deduplicating: { 'local': {} } },
  },
};

// Who owns the directories of a virtual build directory: the runner user,
// so that actions can create their outputs and temporary files.
local owner = if kind == 'fuse' then {
  buildDirectoryOwnerUserId: std.parseInt(std.extVar('NIXSTORE_BB_RUNNER_UID')),
  buildDirectoryOwnerGroupId: std.parseInt(std.extVar('NIXSTORE_BB_RUNNER_GID')),
} else {};

// The Nix pool's build directory: always native (hardlinked inputs), whatever
// NIXSTORE_BB_WORKER says.
local nixPool = std.extVar('NIXSTORE_BB_NIX_POOL') == 'on';
local nixBuildDirectory = {
  native: native.native {
    buildDirectoryPath: common.nixPool.buildDirectory,
    cacheDirectoryPath: common.nixPool.cacheDirectory,
  },
  runners: [{
    endpoint: { address: 'unix:' + common.nixPool.runnerSocket },
    concurrency: std.parseInt(std.extVar('NIXSTORE_BB_NIX_CONCURRENCY')),
    // Actions reach this pool with exec_properties = {"pool": "nix"} (and
    // nothing else: the scheduler matches the whole property set).
    platform: { properties: [{ name: 'pool', value: 'nix' }] },
    instanceNamePrefix: common.instanceName,
    maximumFilePoolFileCount: 10000,
    maximumFilePoolSizeBytes: 1024 * 1024 * 1024,
    workerId: { host: 'localhost', runner: 'nixstore-runner-nix' },
    // The environment every action of the pool starts from; an action's own
    // variables (Bazel's Command) override these one by one. PATH finds the
    // host's Nix; NIX_CONF_DIR holds up.sh's nix.conf for single-user Nix.
    environmentVariables: {
      PATH: std.extVar('NIXSTORE_BB_NIX_PATH'),
      NIX_CONF_DIR: common.runDir + '/nix-conf',
    },
  }],
};

{
  blobstore: common.storageBlobstore + (
    if kind == 'fuse' then { contentAddressableStorage: readCachingCas } else {}
  ),
  browserUrl: 'http://' + common.addr(common.ports.schedulerAdmin),
  maximumMessageSizeBytes: common.maximumMessageSizeBytes,
  scheduler: common.grpcClient(common.ports.schedulerWorkers),
  global: common.global(common.ports.workerDiag) + {
    // bb_runner runs as another (non-root) user: directories the native
    // worker creates in the build directory must be writable by it (0777).
    setUmask: { umask: 0 },
  },
  buildDirectories: [(if kind == 'fuse' then fuse else native) + {
    runners: [owner {
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
  }] + (if nixPool then [nixBuildDirectory] else []),
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
