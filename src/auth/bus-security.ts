import type { Config } from '../config/load.js';
import { EnvelopeSecurity } from './envelope-security.js';
import type { Keyring } from './keyring.js';

/** The signing and checking of one process's bus, from its configuration (PROTOCOL §15.4). */
export function busSecurity(
  config: Config,
  keyring: Keyring,
  strict: boolean,
  now?: () => number,
): EnvelopeSecurity {
  return new EnvelopeSecurity({
    keyring,
    signing: config.security.signing,
    strict,
    maxClockSkewMs: config.security.maxClockSkewMs,
    replayCacheSize: config.security.replayCacheSize,
    ...(now ? { now } : {}),
  });
}
