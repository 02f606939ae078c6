// The commands a Submit call (client.proto) can carry: each SubmitItem / SubmitResult oneof field
// and the unary method it stands for. One table for the server and the SDK, so they cannot drift.
export const SUBMIT_METHOD_BY_FIELD: Readonly<Record<string, string>> = {
  enqueue: 'Enqueue',
  ack: 'Ack',
  nack: 'Nack',
  extend: 'Extend',
  release: 'Release',
  cancel: 'Cancel',
  promote: 'Promote',
  update: 'Update',
  lease: 'Lease',
  keepAlive: 'KeepAlive',
  closeSession: 'CloseSession',
  createQueue: 'CreateQueue',
  configureQueue: 'ConfigureQueue',
  pauseQueue: 'PauseQueue',
  resumeQueue: 'ResumeQueue',
  purgeQueue: 'PurgeQueue',
  deleteQueue: 'DeleteQueue',
  redrive: 'Redrive',
};
