/**
 * Memory reused for the derived copies of one private-tag pass (issue 17). A new buffer for each
 * half-megabyte copy cost 0.35-0.5 ms of CPU per image in page faults and garbage collection,
 * against 0.03 ms to copy the same bytes into memory already in use; with hundreds of images per
 * series that was the largest cost of the pass outside the HTTP client.
 */

/** Memory kept for reuse at most (idle buffers beyond it are left to the garbage collector). */
export const DEFAULT_POOL_BYTES = 16 * 1024 * 1024;
/** Sizes are rounded up to this, so that images of a series a few bytes apart share buffers. */
const GRAIN = 64 * 1024;

/** Buffers handed out and taken back; a buffer is given back only once nothing reads it any more. */
export class BufferPool {
  private readonly idle: ArrayBuffer[] = [];
  private idleBytes = 0;
  /** Memory handed out by take() and not given back yet: give() accepts nothing else. */
  private readonly lent = new WeakSet<ArrayBufferLike>();

  constructor(private readonly maxIdleBytes: number = DEFAULT_POOL_BYTES) {}

  /** Bytes held for reuse right now. */
  get kept(): number {
    return this.idleBytes;
  }

  /** A buffer of exactly `size` bytes (old content, to be overwritten): an idle one large enough, else a new one. */
  readonly take = (size: number): Buffer => {
    const index = this.idle.findIndex((memory) => memory.byteLength >= size);
    let memory: ArrayBuffer;
    if (index < 0) {
      memory = Buffer.allocUnsafeSlow(Math.ceil(Math.max(size, 1) / GRAIN) * GRAIN).buffer as ArrayBuffer;
    } else {
      memory = this.idle.splice(index, 1)[0] as ArrayBuffer;
      this.idleBytes -= memory.byteLength;
    }
    this.lent.add(memory);
    return Buffer.from(memory, 0, size);
  };

  /**
   * Takes back a buffer from take() that nobody reads any more (its upload was answered). Anything
   * else, or memory beyond the pool's limit, is left alone.
   */
  give(buffer: Buffer): void {
    const memory = buffer.buffer;
    if (!this.lent.delete(memory) || !(memory instanceof ArrayBuffer)) return;
    if (this.idleBytes + memory.byteLength > this.maxIdleBytes) return;
    this.idle.push(memory);
    this.idleBytes += memory.byteLength;
  }
}
