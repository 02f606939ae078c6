// A binary min-heap that keeps each item's position in the item itself (`pos`), so removing or
// re-keying an arbitrary item is O(log n) without a side table. An item sits in at most one
// IndexedHeap at a time. Shared by the state machine (ready / delayed / leased tasks) and the SDK
// (its deadline sweep), hence here: both may import src/protocol.

import { assert } from './assert.js';

export interface Positioned {
  pos: number;
}

export class IndexedHeap<T extends Positioned> {
  private readonly items: T[] = [];

  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    assert(item.pos === -1, 'heap: item already in a heap');
    item.pos = this.items.length;
    this.items.push(item);
    this.up(item.pos);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  remove(item: T): void {
    const i = item.pos;
    assert(this.items[i] === item, 'heap: item not in this heap');
    const last = this.items.pop() as T;
    item.pos = -1;
    if (last === item) return;
    this.items[i] = last;
    last.pos = i;
    this.down(i);
    this.up(last.pos);
  }

  /** Restore order after the item's key changed. */
  update(item: T): void {
    assert(this.items[item.pos] === item, 'heap: item not in this heap');
    this.up(item.pos);
    this.down(item.pos);
  }

  has(item: T): boolean {
    return item.pos >= 0 && this.items[item.pos] === item;
  }

  private up(i: number): void {
    const items = this.items;
    const item = items[i] as T;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p] as T;
      if (!this.less(item, parent)) break;
      items[i] = parent;
      parent.pos = i;
      i = p;
    }
    items[i] = item;
    item.pos = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[i] as T;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.less(items[r] as T, items[l] as T)) c = r;
      const child = items[c] as T;
      if (!this.less(child, item)) break;
      items[i] = child;
      child.pos = i;
      i = c;
    }
    items[i] = item;
    item.pos = i;
  }
}
