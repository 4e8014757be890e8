import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How often the worker copies the WAL back into the database file. */
export const CHECKPOINT_EVERY_MS = 250;

// The worker's whole program: its own connection to the ledger, a PASSIVE checkpoint on a timer.
// PASSIVE never waits for the hub's connection and never blocks its writes; frames written after
// it started are left for the next one.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
try {
  db = new Database(workerData.path, { fileMustExist: true });
} catch (error) {
  parentPort.postMessage({ failed: 'cannot open the ledger: ' + error.message });
  process.exit(0);
}
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    clearInterval(timer);
    parentPort.postMessage({ failed: error.message });
  }
}, workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * Checkpoints a SQLite ledger's write-ahead log from a worker thread, so that the hub's event
 * loop never does it. Left to SQLite (`wal_autocheckpoint`), the commit that takes the WAL past
 * 1,000 pages copies them back and syncs the file inside that commit: 4–6 ms every ~130
 * transactions of the hub's size, measured, which is what a task submitted at that moment waits
 * (issue 10's p99). When the worker cannot do it (it could not start or open the file, a
 * checkpoint failed), `fallBack` is told why, once, and the ledger goes back to SQLite's own.
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private stopped = false;

  constructor(path: string, fallBack: (reason: string) => void) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(SOURCE, {
      eval: true,
      workerData: { path, driver, everyMs: CHECKPOINT_EVERY_MS },
    });
    let told = false;
    const fail = (reason: string): void => {
      if (told || this.stopped) return;
      told = true;
      fallBack(reason);
    };
    this.worker.on('message', (message: { failed?: string }) => {
      if (message.failed) fail(message.failed);
    });
    this.worker.on('error', (error) => fail(error.message));
    this.worker.on('exit', () => fail('the checkpoint worker ended'));
    // A hub that is done must not be kept alive by its checkpointer.
    this.worker.unref();
  }

  /** Ask the worker to close its connection and end; the ledger's own close comes after. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.worker.postMessage('stop');
  }
}
