import type { Command } from 'commander';
import { DEFAULTS } from '../../config/defaults.js';
import { EXIT, SheriError } from '../../errors.js';

// The options and value parsers of the command definitions (src/cli/commands/): light on
// purpose, so that building the program for `--help` imports no command's implementation.

/** Options every command that talks to a swarm takes. */
export function addSwarmOptions(command: Command): Command {
  command
    .option(
      '--broker <url>',
      `MQTT broker URL (env SHERI_BROKER or MQTT_BROKER; default ${DEFAULTS.broker})`,
    )
    .option(
      '--swarm <name>',
      `swarm name (env SHERI_SWARM or OPENCTO_SWARM; default ${DEFAULTS.swarm})`,
    )
    .option(
      '--config <file>',
      'config file (env SHERI_CONFIG; default ./sheri.config.json if present)',
    )
    .option(
      '--data-dir <dir>',
      `folder of the swarm's state and credential store (env SHERI_DATA_DIR; default ./${DEFAULTS.dataDir})`,
    )
    .option(
      '--credentials <file>',
      'credential file from `sheri credentials add` (env SHERI_CREDENTIALS; default: the store in --data-dir)',
    )
    .option('--username <name>', 'MQTT user name, overriding the credential (env SHERI_USERNAME)')
    .option('--password <password>', 'MQTT password (env SHERI_PASSWORD)')
    .option('--ca <file>', 'for mqtts://: CA certificate to trust (env SHERI_CA)')
    .option('--cert <file>', 'for mqtts://: client certificate (env SHERI_CERT)')
    .option('--key <file>', 'for mqtts://: client key (env SHERI_KEY)')
    .option('--no-signing', 'neither sign messages nor check signatures (env SHERI_SIGNING=off)');
  return addLogOptions(command);
}

/** How a command logs: every command takes these. */
export function addLogOptions(command: Command): Command {
  return command
    .option(
      '--log-level <level>',
      'trace, debug (adds grants, leases, requeues, policy decisions and stack traces), info, warn, error or silent',
      'info',
    )
    .option('--log-format <format>', 'pretty (default on a terminal) or json')
    .option('--log-file <path>', 'also append JSON log lines to this file (secrets redacted)');
}

/** The data directory alone, for commands that serve without a swarm (`sheri broker`). */
export function addDataDirOption(command: Command): Command {
  return command.option(
    '--data-dir <dir>',
    `folder of the broker's state and the credential store (env SHERI_DATA_DIR; default ./${DEFAULTS.dataDir})`,
  );
}

/** A TCP port to listen on; 0 lets the system pick a free one. */
export function parsePort(name: string) {
  return (value: string): number => {
    const number = Number(value);
    if (!/^\d+$/.test(value.trim()) || number > 65_535) {
      throw new SheriError(
        `${name} must be a TCP port from 0 to 65535 (0: any free port), got "${value}"`,
        EXIT.usage,
      );
    }
    return number;
  };
}

export function parsePositiveInt(name: string) {
  return (value: string): number => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < 0) {
      throw new SheriError(`${name} must be a non-negative integer, got "${value}"`);
    }
    return number;
  };
}

/** An integer from `min` to `max`, or a usage error naming the option and the range. */
export function parseIntInRange(name: string, min: number, max: number) {
  return (value: string): number => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < min || number > max) {
      throw new SheriError(`${name} must be an integer from ${min} to ${max}, got "${value}"`);
    }
    return number;
  };
}

/** "7d", "12h", "30m", "45s" or milliseconds → milliseconds. */
export function parseDuration(name: string) {
  return (value: string): number => {
    const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
    if (!match) {
      throw new SheriError(
        `${name} must be a duration like 7d, 12h, 30m, 45s or 5000 (ms), got "${value}"`,
      );
    }
    const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 'ms']!;
    return Number(match[1]) * unit;
  };
}
