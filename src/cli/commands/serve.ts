import type { Command } from 'commander';
import { DEFAULTS } from '../../config/defaults.js';
import { SANDBOX_OPTION_HELP } from './agent.js';
import { lazyAction } from './lazy-action.js';
import { addLlmOptions, LLM_HELP } from './llm-options.js';
import { addDataDirOption, addLogOptions, addSwarmOptions, parsePort } from './options.js';

/** The embedded broker's security options (PROTOCOL §15.3), for `up` and `broker`. */
function addBrokerOptions(command: Command): Command {
  return command
    .option(
      '--no-auth',
      'an open broker: no credentials asked, anyone may publish anything (loopback only unless --insecure)',
    )
    .option('--insecure', 'let an open broker (--no-auth) listen beyond 127.0.0.1')
    .option(
      '--tls-port <port>',
      'also listen for mqtts:// on this port (0: any free port)',
      parsePort('--tls-port'),
    )
    .option('--tls-cert <file>', 'certificate (PEM) of the mqtts:// listener')
    .option('--tls-key <file>', 'private key (PEM) of the mqtts:// listener');
}

const SECURITY_HELP = `
Security (docs/PROTOCOL.md §15): on first start the credential store is created in the data
directory (credentials.json, mode 0600); local commands use it with no flag. Clients must log
in, except anonymous readers on loopback (mosquitto_sub -t '<swarm>/#' -v), who see redacted
copies. For another machine: sheri credentials add --kind agent --role testing --name box-1`;

export function defineServeCommands(program: Command): void {
  addSwarmOptions(
    addBrokerOptions(addLlmOptions(program.command('up')))
      .description('start the embedded broker and the hub in one process (optionally local agents)')
      .option(
        '--port <port>',
        'TCP port of the embedded broker (0: any free port)',
        parsePort('--port'),
        DEFAULTS.port,
      )
      .option('--host <host>', 'interface to listen on (0.0.0.0 for other machines)', DEFAULTS.host)
      .option(
        '--agents <roles>',
        'also run local agents, e.g. "testing=3,deployment" (role[=count],…; sheri roles lists them)',
      )
      .option(
        '--workspace <dir>',
        'working directory of local agents (default: the current directory)',
      )
      .option('--sandbox <mode>', SANDBOX_OPTION_HELP)
      .addHelpText('after', LLM_HELP)
      .addHelpText('after', SECURITY_HELP)
      .addHelpText(
        'after',
        `
The embedded default: everything a swarm needs on one machine, state under --data-dir.
Agents elsewhere join with: sheri agent --role testing --broker mqtt://<this-host>:<port>

Examples:
  sheri up
  sheri up --agents testing=3,deployment=2 --swarm demo
  sheri up --agents testing=500             (500 agents in this process: a large simulated swarm)
  sheri up --port 1884 --data-dir /var/lib/sheri

One sheri up (or broker, or hub of the same swarm) per data directory: a second is refused (exit 5).
--broker is refused: sheri up is the broker; to use one of yours, run sheri hub --broker URL.`,
      ),
  ).action(lazyAction(async () => (await import('../serve.js')).runUp));

  addLogOptions(
    addDataDirOption(
      addBrokerOptions(
        program
          .command('broker')
          .description('run the embedded MQTT broker only (aedes; persistent sessions on disk)')
          .option(
            '--port <port>',
            'TCP port (0: any free port)',
            parsePort('--port'),
            DEFAULTS.port,
          )
          .option(
            '--host <host>',
            'interface to listen on (0.0.0.0 for other machines)',
            DEFAULTS.host,
          )
          .option('--memory', 'keep no broker state on disk (the credential store still is)'),
      ),
    ).addHelpText('after', SECURITY_HELP),
  ).action(lazyAction(async () => (await import('../serve.js')).runBroker));

  addSwarmOptions(
    program
      .command('hub')
      .description(
        "run the swarm's coordinator against any broker: ledger, claims, leases, retries",
      )
      .addHelpText(
        'after',
        `
Run exactly one hub per swarm. It records every task in SQLite (<data-dir>/hub-<swarm>.sqlite)
before granting it, so tasks and their state survive a restart. It holds the swarm's credential
store (<data-dir>/credentials.json, created on first start): issue the other machines'
credentials where it runs (sheri credentials add), and give mosquitto its files
(sheri credentials mosquitto --out DIR). With "budget": { "dailyUsd": 20, "flowUsd": 2 } in its
sheri.config.json, it grants prompt tasks only while the swarm's LLM spending (results and running
tasks' heartbeats, all agents) leaves room, and refuses the rest (tasks/dead).

With --ledger postgres://… (env SHERI_LEDGER, or "ledger": { "url": … } in sheri.config.json)
the ledger is in PostgreSQL instead, and several hubs may run on it: one leads, the others stand
by and take over within a few seconds of its death (docs/DEPLOY.md). Every hub needs the same
credential store (copy credentials.json into each one's --data-dir). Prefer PGPASSWORD or a
~/.pgpass file to a password in the URL.

Examples:
  sheri hub --broker mqtt://mosquitto:1883 --swarm prod
  sheri hub --broker mqtt://mosquitto:1883 --swarm prod --ledger postgres://sheri@db/sheri_prod`,
      )
      .option(
        '--ledger <url>',
        'postgres://… : the ledger in PostgreSQL, for several hubs (env SHERI_LEDGER; default: SQLite in --data-dir)',
      ),
  ).action(lazyAction(async () => (await import('../serve.js')).runHub));
}
