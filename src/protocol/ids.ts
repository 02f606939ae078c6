// Branded numbers and strings for the values that cross module boundaries (architecture issue §5):
// a log index, a Raft term and a task id are all plain numbers / strings at run time, but the type
// checker keeps them apart where raft, the driver, storage, the state machine and rpc hand them to
// each other, so an index passed as a term (or a token as a task id) does not compile.
//
// A branded value reads as its base type everywhere (arithmetic, comparisons, Map keys); only making
// one takes a constructor, at the boundary that produces it. The constructors check nothing and
// cost nothing: they are type annotations with a name (no behaviour change).

declare const brand: unique symbol;

/** `T` tagged with `B`: assignable to `T`, not from it. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** The index of a Raft log entry (1-based; 0: none). Also the fencing token of a grant. */
export type LogIndex = Brand<number, 'LogIndex'>;

/** A Raft term (0: none yet). */
export type Term = Brand<number, 'Term'>;

/** A task id as the wire carries it: the decimal string of the state machine's counter. */
export type TaskId = Brand<string, 'TaskId'>;

export function asLogIndex(n: number): LogIndex {
  return n as LogIndex;
}

export function asTerm(n: number): Term {
  return n as Term;
}

export function asTaskId(s: string): TaskId {
  return s as TaskId;
}
