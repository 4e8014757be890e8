/** One level of the topic tree: its children by word, and whether a topic ends here. */
interface TopicNode {
  children: Map<string, TopicNode> | undefined;
  present: boolean;
}

const newNode = (): TopicNode => ({ children: undefined, present: false });

/**
 * A set of concrete topics (those of retained messages) in a tree of their levels, so that a
 * subscription filter finds its matches by walking only the branches it can match, not every
 * topic held. The filter is read as aedes-persistence-level reads it (qlobber with `+` one level,
 * `#` zero or more, `/` the separator, and `match_empty_levels`): a word is a wildcard only when
 * it is exactly `+` or `#`; `+` also matches an empty level; `#` matches wherever it stands
 * (aedes lets it through only last); a filter starting with a wildcard still matches `$` topics
 * (as before: aedes sends retained messages without the MQTT-4.7.2-1 check it makes on live
 * ones). Matches come in the byte order of the topics' UTF-8, as a scan of the store's keys
 * returned them. It holds topics only: what they carry stays on disk.
 */
export class TopicSet {
  private readonly root: TopicNode = newNode();
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(topic: string): boolean {
    let node: TopicNode | undefined = this.root;
    for (const word of topic.split('/')) {
      node = node.children?.get(word);
      if (!node) return false;
    }
    return node.present;
  }

  add(topic: string): void {
    let node = this.root;
    for (const word of topic.split('/')) {
      node.children ??= new Map();
      let child = node.children.get(word);
      if (!child) {
        child = newNode();
        node.children.set(word, child);
      }
      node = child;
    }
    if (!node.present) this.count += 1;
    node.present = true;
  }

  /** Forget a topic, and the branch that held only it. */
  delete(topic: string): boolean {
    const words = topic.split('/');
    const path: TopicNode[] = [this.root];
    for (const word of words) {
      const next = path[path.length - 1]!.children?.get(word);
      if (!next) return false;
      path.push(next);
    }
    const leaf = path[path.length - 1]!;
    if (!leaf.present) return false;
    leaf.present = false;
    this.count -= 1;
    for (let depth = words.length; depth > 0; depth--) {
      const node = path[depth]!;
      if (node.present || (node.children && node.children.size > 0)) break;
      const parent = path[depth - 1]!;
      parent.children!.delete(words[depth - 1]!);
      if (parent.children!.size === 0) parent.children = undefined;
    }
    return true;
  }

  /** The topics `filter` matches, each once, in their UTF-8 byte order. */
  match(filter: string): string[] {
    const found = new Set<string>();
    collect(this.root, filter.split('/'), 0, [], found);
    return [...found].sort(compareUtf8);
  }
}

function collect(
  node: TopicNode,
  words: string[],
  at: number,
  levels: string[],
  found: Set<string>,
): void {
  if (at === words.length) {
    if (node.present) found.add(levels.join('/'));
    return;
  }
  const word = words[at]!;
  if (word === '#') {
    if (at === words.length - 1) {
      // The usual last `#`: this topic and everything under it, one visit each.
      everything(node, levels, found);
      return;
    }
    // `#` before more words: it takes none of the levels here, or one and stays.
    collect(node, words, at + 1, levels, found);
    for (const [child, next] of node.children ?? []) {
      levels.push(child);
      collect(next, words, at, levels, found);
      levels.pop();
    }
    return;
  }
  if (word === '+') {
    for (const [child, next] of node.children ?? []) {
      levels.push(child);
      collect(next, words, at + 1, levels, found);
      levels.pop();
    }
    return;
  }
  const next = node.children?.get(word);
  if (!next) return;
  levels.push(word);
  collect(next, words, at + 1, levels, found);
  levels.pop();
}

function everything(node: TopicNode, levels: string[], found: Set<string>): void {
  if (node.present) found.add(levels.join('/'));
  for (const [child, next] of node.children ?? []) {
    levels.push(child);
    everything(next, levels, found);
    levels.pop();
  }
}

/**
 * Order of two strings' UTF-8 bytes (how the store sorts its keys), without encoding them: it is
 * code point order, which differs from UTF-16 code unit order only where a surrogate (a code point
 * above U+FFFF) meets a code unit from U+E000 up.
 */
export function compareUtf8(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && x <= 0xdfff) x += 0x10000;
    if (y >= 0xd800 && y <= 0xdfff) y += 0x10000;
    return x - y;
  }
  return a.length - b.length;
}
