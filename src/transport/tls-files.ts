import { readFileSync } from 'node:fs';
import type { Config } from '../config/load.js';

/** mqtts:// material from the configured files (PROTOCOL §15.2). */
export function tlsOf(config: Config): { tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer } } {
  const { ca, cert, key } = config.tls;
  if (!ca && !cert && !key) return {};
  return {
    tls: {
      ...(ca ? { ca: readFileSync(ca) } : {}),
      ...(cert ? { cert: readFileSync(cert) } : {}),
      ...(key ? { key: readFileSync(key) } : {}),
    },
  };
}
