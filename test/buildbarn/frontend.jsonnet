// A second bb_storage in front of everything: the single endpoint Bazel talks
// to (CAS, AC, Capabilities, Execution). Blobs go to the storage process;
// Execute calls go to the scheduler.
local common = import 'common.libsonnet';

{
  grpcServers: [common.grpcServer(common.ports.frontend)],
  maximumMessageSizeBytes: common.maximumMessageSizeBytes,
  global: common.global(common.ports.frontendDiag),
  contentAddressableStorage: {
    backend: common.storageBlobstore.contentAddressableStorage,
    getAuthorizer: common.allow,
    putAuthorizer: common.allow,
    findMissingAuthorizer: common.allow,
  },
  actionCache: {
    // Only report cached actions whose outputs are all still in the CAS.
    backend: {
      completenessChecking: {
        backend: common.storageBlobstore.actionCache,
        maximumTotalTreeSizeBytes: 64 * 1024 * 1024,
      },
    },
    getAuthorizer: common.allow,
    putAuthorizer: common.allow,
  },
  // '' = every instance name goes to this scheduler.
  schedulers: {
    '': {
      endpoint: common.grpcClient(common.ports.schedulerClients) + {
        // Forward Bazel's RequestMetadata so that the scheduler can group
        // operations by invocation.
        addMetadataJmespathExpression: {
          expression: '{"build.bazel.remote.execution.v2.requestmetadata-bin": incomingGRPCMetadata."build.bazel.remote.execution.v2.requestmetadata-bin"}',
        },
      },
    },
  },
  executeAuthorizer: common.allow,
}
