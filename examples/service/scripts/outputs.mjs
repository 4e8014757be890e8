import { appendFileSync } from 'node:fs';

/** Hand `name=value` outputs to the next steps of a sheri flow, when run by one ($SHERI_OUTPUT). */
export function setOutput(name, value) {
  if (process.env.SHERI_OUTPUT) appendFileSync(process.env.SHERI_OUTPUT, `${name}=${value}\n`);
}
