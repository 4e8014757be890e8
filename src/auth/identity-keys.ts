import { createHmac } from 'node:crypto';
import { KINDS, type Kind } from '../protocol/topic-table.js';

/** An identity and the generation of its keys (PROTOCOL §15.2). `role` only for agents. */
export interface IdentityRef {
  readonly kind: Kind;
  readonly role?: string;
  readonly name: string;
  readonly generation: number;
}

/** Identity names and agent ids: letters, digits, ".", "_", "-". */
export const IDENTITY_NAME = /^[A-Za-z0-9._-]{1,100}$/;
const ROLE = /^[A-Za-z0-9._-]{1,100}$/;

/** `<kind>:<role or ->:<name>:<generation>`, the key id a signature names. */
export function kidOf(ref: IdentityRef): string {
  return `${ref.kind}:${ref.role ?? '-'}:${ref.name}:${ref.generation}`;
}

export function parseKid(kid: string): IdentityRef | undefined {
  const parts = kid.split(':');
  if (parts.length !== 4) return undefined;
  const [kind, role, name, generation] = parts as [string, string, string, string];
  return refOf(kind, role, name, generation);
}

function refOf(
  kind: string,
  role: string,
  name: string,
  generation: string,
): IdentityRef | undefined {
  if (!(KINDS as string[]).includes(kind) || !IDENTITY_NAME.test(name)) return undefined;
  if (!/^[1-9]\d{0,8}$/.test(generation)) return undefined;
  const isAgent = kind === 'agent';
  if (isAgent ? !ROLE.test(role) : role !== '-') return undefined;
  return {
    kind: kind as Kind,
    ...(isAgent ? { role } : {}),
    name,
    generation: Number(generation),
  };
}

/** The identity's secret, derived from the store's master secret: never stored. */
export function deriveSecret(master: Buffer, ref: IdentityRef): Buffer {
  return createHmac('sha256', master)
    .update(
      ['sheri identity v1', ref.kind, ref.role ?? '-', ref.name, String(ref.generation)].join('\0'),
    )
    .digest();
}

/** The HMAC key of the identity's signatures; a broker that knows its password cannot derive it. */
export function signingKeyOf(secret: Buffer): Buffer {
  return createHmac('sha256', secret).update('sheri signing key v1').digest();
}

/** The MQTT password: self-describing, so a broker can check a minted agent's without a list. */
export function mqttPasswordOf(ref: IdentityRef, secret: Buffer): string {
  const mac = createHmac('sha256', secret).update('sheri mqtt password v1').digest('base64url');
  return `sheri1.${ref.kind}.${ref.role ?? '-'}.${ref.generation}.${mac}`;
}

/** The identity a password claims for `username`, or undefined when it is not one of ours. */
export function refOfPassword(username: string, password: string): IdentityRef | undefined {
  const parts = password.split('.');
  if (parts.length !== 5 || parts[0] !== 'sheri1') return undefined;
  const [, kind, role, generation] = parts as [string, string, string, string, string];
  return refOf(kind, role, username, generation);
}
