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

/**
 * Resolves once the hotshard serving HTTP on `httpPort` has received `n`
 * commands (hotshard_commands_total): a stop signal sent then finds them all
 * in flight. A fixed wait is not enough on a loaded machine, where requests
 * still unread when the signal lands are refused.
 */
export async function waitForCommands(httpPort: number, n: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const received = Number(/^hotshard_commands_total (\d+)$/m.exec(metrics)?.[1] ?? 0);
    if (received >= n) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} commands; received ${received}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
