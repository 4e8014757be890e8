// The suite's command line (pure): `node scripts/chaos/run.mjs [--only 1,3] [--broker both]
// [--quick] [--keep] [--sandbox auto|none] [--no-doc]`.

export const SCENARIO_IDS = [1, 2, 3, 4, 5, 6, 7, 8];
const BROKERS = {
  embedded: ['embedded'],
  mosquitto: ['mosquitto'],
  both: ['embedded', 'mosquitto'],
};

export class UsageError extends Error {}

export function parseArgs(argv) {
  const options = {
    only: SCENARIO_IDS,
    brokers: BROKERS.both,
    quick: false,
    keep: false,
    sandbox: 'auto',
    doc: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`${arg} needs a value`);
      return next;
    };
    if (arg === '--quick') options.quick = true;
    else if (arg === '--keep') options.keep = true;
    else if (arg === '--no-doc') options.doc = false;
    else if (arg === '--only') {
      const text = value();
      const ids = text.split(',').map((part) => Number(part.trim()));
      const bad = ids.filter((id) => !SCENARIO_IDS.includes(id));
      if (bad.length > 0 || ids.length === 0)
        throw new UsageError(
          `--only takes scenario numbers 1–8 separated by commas, got \`${text}\``,
        );
      options.only = [...new Set(ids)].sort((a, b) => a - b);
    } else if (arg === '--broker') {
      const text = value();
      if (!(text in BROKERS))
        throw new UsageError(`--broker is embedded, mosquitto or both, got \`${text}\``);
      options.brokers = BROKERS[text];
    } else if (arg === '--sandbox') {
      const text = value();
      if (text !== 'auto' && text !== 'none')
        throw new UsageError(`--sandbox is auto or none, got \`${text}\``);
      options.sandbox = text;
    } else
      throw new UsageError(`unknown option \`${arg}\` (see the head of scripts/chaos/run.mjs)`);
  }
  return options;
}
