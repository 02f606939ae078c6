// The public package (`raftq`, src/index.ts) is an explicit list: the SDK, nothing of Raft.
import { describe, expect, it } from 'vitest';
import * as pkg from '../../../src/index.js';
// @ts-expect-error Message is the Raft peer message type: not part of the public package.
import type { Message } from '../../../src/index.js';

describe('public exports', () => {
  it('are the SDK values, exactly', () => {
    expect(Object.keys(pkg).sort()).toEqual(
      [
        'AlreadyExistsError',
        'CancelledError',
        'Client',
        'CoalescingTransport',
        'DeadlineExceededError',
        'FailedPreconditionError',
        'GrpcTransport',
        'InternalError',
        'InvalidArgumentError',
        'LeaseLostError',
        'NonRetryableError',
        'NotFoundError',
        'NotLeaderError',
        'PermissionDeniedError',
        'Queue',
        'RaftqError',
        'RateLimitedError',
        'SCHEDULE_HEADER',
        'SCHEDULE_MANUAL_HEADER',
        'SCHEDULE_SLOT_HEADER',
        'Schedules',
        'SharedLimits',
        'ResourceExhaustedError',
        'SessionExpiredError',
        'TaskFailedError',
        'Topic',
        'TransportError',
        'UnauthenticatedError',
        'UnavailableError',
        'Worker',
        'encryptedCodec',
        'errorFromDetail',
        'msgpackCodec',
        'raftqError',
        'systemClock',
      ].sort(),
    );
  });

  it('do not include the peer message type', () => {
    // Compile-time check above (@ts-expect-error); this keeps the import in use.
    const none: Message | undefined = undefined;
    expect(none).toBeUndefined();
  });
});
