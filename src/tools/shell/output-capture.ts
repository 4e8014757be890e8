/**
 * Keeps the head and the tail of a stream of text within `limit` characters, so the error at the
 * end of a long output is never lost, and renders a visible `[… N chars cut …]` marker between.
 */
export class OutputCapture {
  private head = '';
  private tail = '';
  private total = 0;

  private readonly limit: number;

  /** A `limit` below 2 leaves no room for both head and tail; it is raised to 2. */
  constructor(limit: number) {
    this.limit = Math.max(2, Math.floor(limit));
  }

  push(chunk: string): void {
    this.total += chunk.length;
    const headRoom = Math.ceil(this.limit / 2) - this.head.length;
    if (headRoom > 0) {
      this.head += chunk.slice(0, headRoom);
      chunk = chunk.slice(headRoom);
    }
    if (chunk.length === 0) return;
    const tailLimit = Math.floor(this.limit / 2);
    this.tail = (this.tail + chunk).slice(-tailLimit);
  }

  get length(): number {
    return this.total;
  }

  get truncated(): boolean {
    return this.total > this.head.length + this.tail.length;
  }

  text(): string {
    const cut = this.total - this.head.length - this.tail.length;
    return cut > 0 ? `${this.head}\n[… ${cut} chars cut …]\n${this.tail}` : this.head + this.tail;
  }
}
