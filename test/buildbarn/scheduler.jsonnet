local common = import 'common.libsonnet';

{
  clientGrpcServers: [common.grpcServer(common.ports.schedulerClients)],
  workerGrpcServers: [common.grpcServer(common.ports.schedulerWorkers)],
  // Web UI listing platform queues, workers and operations.
  adminHttpServers: [{
    listenAddresses: [common.addr(common.ports.schedulerAdmin)],
    authenticationPolicy: common.allow,
  }],
  browserUrl: 'http://' + common.addr(common.ports.schedulerAdmin),
  contentAddressableStorage: common.storageBlobstore.contentAddressableStorage,
  maximumMessageSizeBytes: common.maximumMessageSizeBytes,
  global: common.global(common.ports.schedulerDiag),
  executeAuthorizer: common.allow,
  modifyDrainsAuthorizer: common.allow,
  killOperationsAuthorizer: common.allow,
  synchronizeAuthorizer: common.allow,
  actionRouter: {
    simple: {
      // Bazel >= 4.1 puts the platform in the Action; older ones only in
      // the Command. Read both.
      platformKeyExtractor: { actionAndCommand: {} },
      invocationKeyExtractors: [
        { correlatedInvocationsId: {} },
        { toolInvocationId: {} },
      ],
      initialSizeClassAnalyzer: {
        defaultExecutionTimeout: '1800s',
        maximumExecutionTimeout: '7200s',
      },
    },
  },
  // Keep an idle platform queue around for a while after its worker left.
  platformQueueWithNoWorkersTimeout: '900s',
}
