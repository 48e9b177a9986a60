// bb_storage holding the CAS and the AC on local, sparse, memory-mapped files
// under $NIXSTORE_BB_RUN_DIR/storage.
local common = import 'common.libsonnet';
local dir = common.runDir + '/storage';
local casBytes = std.parseInt(std.extVar('NIXSTORE_BB_CAS_MIB')) * 1024 * 1024;

// Few, large blocks: a blob must fit in one block, and Nix closures hold
// files of a hundred MiB and more. Block size = size / (old+current+new+spare).
local local_(name, blocksBytes, keyMapBytes, newBlocks) = {
  'local': {
    keyLocationMapOnBlockDevice: {
      file: { path: dir + '/' + name + '/key_location_map', sizeBytes: keyMapBytes },
    },
    keyLocationMapMaximumGetAttempts: 16,
    keyLocationMapMaximumPutAttempts: 64,
    oldBlocks: 2,
    currentBlocks: 8,
    newBlocks: newBlocks,
    blocksOnBlockDevice: {
      source: { file: { path: dir + '/' + name + '/blocks', sizeBytes: blocksBytes } },
      spareBlocks: 2,
    },
    persistent: {
      stateDirectoryPath: dir + '/' + name + '/persistent_state',
      minimumEpochInterval: '300s',
    },
  },
};

{
  grpcServers: [common.grpcServer(common.ports.storage)],
  maximumMessageSizeBytes: common.maximumMessageSizeBytes,
  global: common.global(common.ports.storageDiag),
  contentAddressableStorage: {
    backend: local_('cas', casBytes, 64 * 1024 * 1024, 2),
    getAuthorizer: common.allow,
    putAuthorizer: common.allow,
    findMissingAuthorizer: common.allow,
  },
  actionCache: {
    backend: local_('ac', 64 * 1024 * 1024, 4 * 1024 * 1024, 1),
    getAuthorizer: common.allow,
    putAuthorizer: common.allow,
  },
}
