// Every case of `npm run bench`, in the order the issue lists them, then the older benches.
export { floor } from './floor.mjs';
export { dispatch, bullmq, deriveRatios } from './throughput.mjs';
export { latency } from './latency.mjs';
export { idle } from './idle.mjs';
export { processes } from './processes.mjs';
export { replicas } from './replicas.mjs';
export { startup } from './startup.mjs';
export { claims, sandbox } from './scripts.mjs';
export { ledger } from './ledger.mjs';
