// Apart from topic-table.ts (zod), so that `sheri credentials add --help` can name them.

/** Who a client of the swarm is (PROTOCOL §15.1); anonymous clients have no kind. */
export type Kind = 'hub' | 'agent' | 'operator' | 'observer';
export const KINDS: readonly Kind[] = ['hub', 'agent', 'operator', 'observer'];
