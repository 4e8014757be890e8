// Everything the suite starts (processes, mounts, folders) is registered here, so a failure or
// Ctrl-C still ends it: the runner calls runTeardown() in `finally` and on SIGINT/SIGTERM.

const steps = [];

/** Register a cleanup; returns a function that unregisters it (its owner cleaned up itself). */
export function onTeardown(step) {
  const entry = { step, done: false };
  steps.push(entry);
  return () => {
    entry.done = true;
    const index = steps.indexOf(entry);
    if (index >= 0) steps.splice(index, 1);
  };
}

/** Last registered first, as a stack unwinds; one failing step does not stop the others. */
export async function runTeardown() {
  while (steps.length > 0) {
    const entry = steps.pop();
    if (entry.done) continue;
    entry.done = true;
    try {
      await entry.step();
    } catch (error) {
      console.error(`teardown: ${error.message}`);
    }
  }
}
