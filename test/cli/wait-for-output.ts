/** Waiting for a spawned hotshard to print something (the CLI tests' shared helper). */
import type { ChildProcess } from 'node:child_process';

/** A spawned process and everything it has printed so far. */
export interface Printing {
  readonly child: ChildProcess;
  output(): string;
}

/** Resolves once `pattern` appears in the output; throws on a timeout or an early exit, with the output. */
export async function waitForOutput(p: Printing, pattern: RegExp, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(p.output())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output:\n${p.output()}`);
    if (p.child.exitCode !== null) throw new Error(`exited with ${p.child.exitCode}; output:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
