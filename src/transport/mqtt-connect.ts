import { createRequire } from 'node:module';
import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import type * as MqttModule from 'mqtt';
import type { IClientOptions, MqttClient } from 'mqtt';
// The client alone (CommonJS: its module.exports, the class its `default`), imported statically
// so that the bundle carries it: read from node_modules it cost each agent's start ~30 ms of
// CPU more (its ~40 files resolved, read and compiled one by one; issue 10).
import mqttClient from 'mqtt/lib/client';

type StreamBuilder = (client: MqttClient, options: IClientOptions) => Duplex;

const require = createRequire(import.meta.url);

/** The schemes mqtt.js sends over TCP, and over TLS (lib/connect/index.js's protocol table). */
const TCP = new Set(['mqtt', 'tcp']);
const TLS = new Set(['mqtts', 'ssl', 'tls']);

/**
 * mqtt.js's `connect(url, options)` for a plain broker URL (mqtt://, tcp://, mqtts://, ssl://,
 * tls://; host and port only), built from mqtt.js's own client and TCP/TLS stream builders.
 * mqtt.js's connect() requires every transport it has on its first call — WebSocket (ws), WeChat,
 * Alipay — which is ~4 MB and ~40 ms of CPU in each agent process (issue 10). Anything else (ws://,
 * credentials or a query in the URL, a SOCKS proxy from MQTTJS_SOCKS_PROXY, a client certificate on
 * a scheme other than mqtt/mqtts) goes through mqtt.js's connect() itself, unchanged.
 */
export function connectMqtt(url: string, options: IClientOptions): MqttClient {
  const plain = plainTarget(url, options);
  if (!plain) return (require('mqtt') as typeof MqttModule).connect(url, options);
  // mqtt.js's TCP builder is net.createConnection once its SOCKS branch (excluded above) is
  // passed; requiring it loads that branch's modules too (~20 ms of each agent's start).
  const builder: StreamBuilder = plain.secure
    ? (require('mqtt/lib/connect/tls') as { default: StreamBuilder }).default
    : (_client, opts) =>
        createConnection({
          port: opts.port || 1883,
          host: opts.hostname || opts.host || 'localhost',
        });
  const Client = clientClass();
  // What connect() hands the client for such a URL: host, port, protocol, defaultProtocol.
  const protocol = plain.secure ? 'mqtts' : 'mqtt';
  const clientOptions: IClientOptions = {
    ...options,
    host: plain.host,
    ...(plain.port === undefined ? {} : { port: plain.port }),
    protocol,
    defaultProtocol: protocol,
  };
  const client = new Client((self) => builder(self, clientOptions), clientOptions);
  // As connect() does: an 'error' with no listener must not throw out of the socket's callback.
  client.on('error', () => undefined);
  return client;
}

/**
 * The class from the CommonJS module: Node (and the bundle) give its module.exports as the
 * default import, whose `default` is the class; a loader honouring `__esModule` (vitest) gives
 * the class itself.
 */
function clientClass(): typeof MqttClient {
  const imported = mqttClient as unknown as { default?: typeof MqttClient } & typeof MqttClient;
  return imported.default ?? imported;
}

/** Host, port and TLS of a URL connectMqtt can take alone, or undefined for mqtt.js's connect(). */
function plainTarget(
  url: string,
  options: IClientOptions,
): { host: string; port?: number; secure: boolean } | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const scheme = parsed.protocol.replace(/:$/, '');
  if (!TCP.has(scheme) && !TLS.has(scheme)) return undefined;
  if (parsed.username || parsed.password || parsed.search || parsed.hash) return undefined;
  if (parsed.pathname !== '' && parsed.pathname !== '/') return undefined;
  // connect() turns mqtt:// into mqtts:// with a certificate, and refuses tcp:// with one.
  const certified = Boolean(options.cert && options.key);
  if (certified && scheme !== 'mqtt' && scheme !== 'mqtts') return undefined;
  // mqtt.js reads its SOCKS proxy from the environment in connect(): leave that to it.
  if (process.env['MQTTJS_SOCKS_PROXY'] !== undefined) return undefined;
  if (options.servers !== undefined || options.socksProxy !== undefined) return undefined;
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') return undefined;
  return {
    host,
    ...(parsed.port === '' ? {} : { port: Number(parsed.port) }),
    secure: TLS.has(scheme) || certified,
  };
}
