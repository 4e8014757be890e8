import type { Command } from 'commander';
import { DEFAULTS } from '../../config/defaults.js';
import { KINDS } from '../../protocol/kinds.js';
import { lazyAction } from './lazy-action.js';

function addStoreOptions(command: Command): Command {
  return command
    .option(
      '--data-dir <dir>',
      `folder of the swarm's credential store (env SHERI_DATA_DIR; default ./${DEFAULTS.dataDir})`,
    )
    .option('--config <file>', 'config file (for the roles it adds)');
}

export function defineCredentialsCommands(program: Command): void {
  const credentials = program
    .command('credentials')
    .description("issue, list, revoke and rotate the swarm's credentials (PROTOCOL §15.2)")
    .addHelpText(
      'after',
      `
The store is <data-dir>/credentials.json, created by sheri up / broker / hub on first start; local
commands use it with no flag. For another machine, issue a credential file and copy it there:
  sheri credentials add --kind agent --role deployment --name deploy-box
  scp deploy-box.credentials.json deploy-box:   # then: sheri agent --credentials deploy-box.credentials.json
A leaked credential: sheri credentials rotate deploy-box (new file), or revoke deploy-box.`,
    );

  addStoreOptions(
    credentials
      .command('add')
      .description('add an identity and write its credential file')
      .requiredOption('--kind <kind>', `one of ${KINDS.filter((k) => k !== 'hub').join(', ')}`)
      .requiredOption('--name <name>', "its name (an agent's is its agent id)")
      .option('--role <role>', "an agent's role")
      .option('--out <file>', 'where to write it (default ./<name>.credentials.json)'),
  ).action(lazyAction(async () => (await import('../credentials.js')).addCredential));

  addStoreOptions(
    credentials
      .command('list')
      .description('the identities of the store')
      .option('--json', 'print JSON'),
  ).action(lazyAction(async () => (await import('../credentials.js')).listCredentials));

  addStoreOptions(
    credentials
      .command('revoke')
      .description('revoke an identity for good: its credential stops working within a second')
      .argument('<name>', 'the identity'),
  ).action(lazyAction(async () => (await import('../credentials.js')).revokeCredential));

  addStoreOptions(
    credentials
      .command('rotate')
      .description('new keys for an identity (a leaked credential): the old file stops working')
      .argument('<name>', 'the identity')
      .option('--out <file>', 'where to write the new file (default ./<name>.credentials.json)'),
  ).action(lazyAction(async () => (await import('../credentials.js')).rotateCredential));

  addStoreOptions(
    credentials
      .command('export')
      .description("write an existing identity's credential file again")
      .argument('<name>', 'the identity')
      .option('--out <file>', 'where to write it (default ./<name>.credentials.json)'),
  ).action(lazyAction(async () => (await import('../credentials.js')).exportCredential));

  addStoreOptions(
    credentials
      .command('login')
      .description('print the MQTT user name and password of an identity (for mosquitto_pub -u -P)')
      .argument('<name>', 'the identity'),
  ).action(lazyAction(async () => (await import('../credentials.js')).printLogin));

  addStoreOptions(
    credentials
      .command('mosquitto')
      .description("write mosquitto's password file, ACL file and mosquitto.conf for this store")
      .requiredOption('--out <dir>', 'folder to write passwords, acl and mosquitto.conf into')
      .option('--swarm <name>', `the swarm the ACL is for (default ${DEFAULTS.swarm})`)
      .option(
        '--issue <name:role>',
        'also make sure agent NAME of ROLE exists and write <dir>/NAME.credentials.json (repeatable)',
        (value: string, previous: string[]) => [...previous, value],
        [],
      )
      .option(
        '--owner <uid:gid>',
        "give the folder to this user (the mosquitto container's 1883:1883)",
      ),
  ).action(lazyAction(async () => (await import('../credentials.js')).writeMosquittoFiles));
}
