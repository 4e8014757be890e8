import type { Config } from '../config/load.js';
import { CredentialStore } from './credential-store.js';

/**
 * The files of secrets a process of this configuration may read (PROTOCOL §15.2): the credential
 * store of its data directory and, if given, its own credential file. For the sandbox to hide
 * them from tasks (with the data directory itself).
 */
export function credentialPaths(
  config: Pick<Config, 'dataDir' | 'credentialsFile'>,
): readonly string[] {
  return [
    CredentialStore.pathIn(config.dataDir),
    ...(config.credentialsFile ? [config.credentialsFile] : []),
  ];
}
