import { resolve } from 'node:path';
import { z } from 'zod';
import { EXIT, SheriError } from '../errors.js';
import { formatIssues } from '../protocol/codec.js';
import { KINDS, type Kind } from '../protocol/topic-table.js';
import { IDENTITY_NAME, type IdentityRef } from './identity-keys.js';
import { readPrivateFile, writePrivateFile } from './private-file.js';

/** One identity's credential, as `sheri credentials add` writes it for another machine (PROTOCOL §15.2). */
export const CredentialFile = z.strictObject({
  sheri_credential: z.literal(1),
  name: z.string().regex(IDENTITY_NAME),
  kind: z.enum(KINDS as [Kind, ...Kind[]]),
  role: z.string().min(1).max(100).optional(),
  generation: z.int().min(1),
  /** The identity's secret S (base64url); its password and signing key derive from it. */
  secret: z.string().min(40),
  hub_public_key: z.string().min(40),
});
export type CredentialFile = z.infer<typeof CredentialFile>;

export function readCredentialFile(path: string): CredentialFile {
  const full = resolve(path);
  const text = readPrivateFile(full);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SheriError(`${full} is not JSON: ${(error as Error).message}`, EXIT.config);
  }
  const parsed = CredentialFile.safeParse(json);
  if (!parsed.success) {
    throw new SheriError(
      `${full} is not a sheri credential (sheri credentials add writes one): ${formatIssues(parsed.error)}`,
      EXIT.config,
    );
  }
  if ((parsed.data.kind === 'agent') !== Boolean(parsed.data.role)) {
    throw new SheriError(
      `${full}: an agent credential has a role, and only an agent's`,
      EXIT.config,
    );
  }
  return parsed.data;
}

export function writeCredentialFile(path: string, credential: CredentialFile): void {
  writePrivateFile(resolve(path), `${JSON.stringify(credential, null, 2)}\n`);
}

export function refOfCredential(credential: CredentialFile): IdentityRef {
  return {
    kind: credential.kind,
    ...(credential.role ? { role: credential.role } : {}),
    name: credential.name,
    generation: credential.generation,
  };
}
