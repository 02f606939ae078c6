// One assertion for the whole code base. A failed assertion is a bug, never bad input: it throws an
// AssertionError that nothing may turn into an answer. Callers let it propagate so the node stops with
// the stack in its log (docs/design.md, "crash on bugs").

export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/** Crash on a broken invariant. `where` names the module, `what` the invariant that failed. */
export function assert(cond: unknown, what: string): asserts cond {
  if (!cond) throw new AssertionError(what);
}

/** Exhaustiveness check for discriminated unions: reaching it at run time is a bug. */
export function assertNever(x: never, what = 'unexpected variant'): never {
  throw new AssertionError(`${what}: ${JSON.stringify(x)}`);
}

/** True for an error thrown by `assert` / `assertNever` (a bug), false for any other error. */
export function isAssertionError(err: unknown): err is AssertionError {
  return err instanceof AssertionError;
}
