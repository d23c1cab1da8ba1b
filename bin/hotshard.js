#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm install` (prepare) or `npm run build`.
//
// The server commands want V8 flags that only work on node's own command line
// (a larger young generation and a floor under the old generation's limit;
// see src/cli/node-flags.ts for why and what it measured).
// When they are missing, this restarts node with them and stands by: SIGINT,
// SIGTERM and SIGHUP go on to the server, its exit status comes back, and if
// this process dies the server is told through an IPC channel and stops as on
// SIGTERM (src/cli/parent.ts). Give the flags yourself (`node
// --max-semi-space-size=32 --min-semi-space-size=32 --initial-old-space-size=160
// bin/hotshard.js start`, or in NODE_OPTIONS, as a service should) and
// hotshard runs in this one process with your values.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('hotshard: dist/ is missing; run `npm run build` first');
  process.exit(1);
}
const { SERVER_COMMANDS, LAUNCHED_ENV, missingNodeFlags, nodeFlagsFor, profiling } = await import(
  new URL('../dist/cli/node-flags.js', import.meta.url).href
);
const { followPackageManager } = await import(new URL('../dist/cli/parent.js', import.meta.url).href);
// Started by npx or an npm script: stop (through the server's drain) once npm is gone.
followPackageManager();
// No restart on Windows (signals do not pass between processes there), nor
// under a debugger or profiler, which would attach to this process instead.
const missing =
  process.platform !== 'win32' && SERVER_COMMANDS.has(process.argv[2]) && !profiling(process.execArgv)
    ? missingNodeFlags(process.execArgv, process.env.NODE_OPTIONS, nodeFlagsFor(process.argv[2]))
    : [];
if (missing.length === 0) {
  await import(entry.href);
} else {
  // The same process group, so job control, Ctrl-\ and window resizes reach
  // the server as they would without a launcher. A terminal's Ctrl-C (or
  // systemd's SIGTERM to the whole unit) therefore reaches the server twice,
  // directly and from here; it takes a repeat within a second as one
  // (stopOnSignals in src/cli/start.ts).
  const child = spawn(process.execPath, [...missing, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [LAUNCHED_ENV]: '1' },
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  // A failed spawn, or a signal that could not be relayed (the server already
  // gone: its 'exit' follows and decides the status).
  child.on('error', (err) => {
    console.error(`hotshard: ${err.message}`);
    if (child.pid === undefined) process.exit(1);
  });
  // A signal's death as the shell reports it (128 + its number), not re-raised
  // here: as a container's PID 1 this process would ignore it, and a SIGABRT
  // would dump a second core.
  child.on('exit', (code, signal) =>
    process.exit(signal === null ? (code ?? 1) : 128 + constants.signals[signal]),
  );
}
