import type { Config } from '../config/load.js';
import { DEFAULTS } from '../config/defaults.js';
import { typesForRole } from '../protocol/task-types.js';

/**
 * What `sheri up` says to run next, as commands that paste as they are in another terminal of
 * the same folder: `npx sheri …` (sheri is not on PATH after `npm ci`), with the flags this swarm
 * needs and no others, and the `mosquitto_sub` line that watches it.
 */
export function upNextSteps(
  config: Config,
  listen: { host: string; port: number },
  agentRoles: readonly string[],
  cwd: string,
): string[] {
  const host = listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host;
  const flags = [
    ...(listen.port !== DEFAULTS.port || host !== '127.0.0.1'
      ? [`--broker mqtt://${host}:${listen.port}`]
      : []),
    ...(config.swarm !== DEFAULTS.swarm ? [`--swarm ${config.swarm}`] : []),
    ...(config.dataDir !== `${cwd}/${DEFAULTS.dataDir}` ? [`--data-dir ${config.dataDir}`] : []),
  ].join(' ');
  const sheri = (command: string): string => `npx sheri ${command}${flags ? ` ${flags}` : ''}`;
  const role = agentRoles[0];
  const type = role ? typesForRole(config.taskTypes, role)[0] : undefined;
  return [
    ...(type
      ? [sheri(`task submit --type ${type} --command 'echo hello from a ${role} agent' --wait`)]
      : [
          sheri('agent --role testing'),
          sheri(`task submit --type testing.run --command 'echo hello' --wait`),
        ]),
    sheri('monitor'),
    sheri('tasks'),
    `mosquitto_sub -h ${host} -p ${listen.port} -t '${config.swarm}/#' -v`,
  ];
}
