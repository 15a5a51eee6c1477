/**
 * A FIFO of waiting calls with O(1) push, shift and removal from the middle (an intrusive
 * doubly-linked list), shared by the bulkhead and the rate limiter. An aborted waiter unlinks
 * itself at once instead of lingering until it reaches the head. Not exported from `weir/policy`.
 */
export class WaitNode {
  prev: WaitNode | undefined = undefined;
  next: WaitNode | undefined = undefined;
  /** The queue holding this node, or `undefined` once shifted or removed. */
  queue: WaitQueue<WaitNode> | undefined = undefined;
}

export class WaitQueue<N extends WaitNode> {
  head: N | undefined = undefined;
  private tail: N | undefined = undefined;
  size = 0;

  push(node: N): void {
    node.queue = this as WaitQueue<WaitNode>;
    node.prev = this.tail;
    node.next = undefined;
    if (this.tail === undefined) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    this.size++;
  }

  /** Removes and returns the oldest node. */
  shift(): N | undefined {
    const node = this.head;
    if (node !== undefined) this.remove(node);
    return node;
  }

  /** Unlinks `node`; returns false (and does nothing) if it is not in this queue. */
  remove(node: N): boolean {
    if (node.queue !== (this as WaitQueue<WaitNode>)) return false;
    node.queue = undefined;
    if (node.prev === undefined) this.head = node.next as N | undefined;
    else node.prev.next = node.next;
    if (node.next === undefined) this.tail = node.prev as N | undefined;
    else node.next.prev = node.prev;
    node.prev = node.next = undefined;
    this.size--;
    return true;
  }
}
