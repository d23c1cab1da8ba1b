/**
 * Following a long operation (a move, a drain) from the command line: poll
 * GET /actions/{id} until it ends, showing its phase, keys and bytes copied,
 * rate and ETA as a bar. On a terminal the bar is one line rewritten in place;
 * otherwise (a pipe, a CI log) a line is printed when the phase changes and
 * at most every few seconds. Formatting is pure so tests check it without a
 * terminal.
 */
import { callApi, type ApiFlags } from './api-client.js';

/** The fields of an action this reads (operations.ts OperationAction; an executor action has no progress). */
export interface FollowedAction {
  readonly id: string;
  readonly state: string;
  readonly detail?: string | null | undefined;
  readonly progress?: {
    readonly phase: string;
    readonly keysCopied: number;
    readonly bytesCopied: number;
    readonly keysTotal?: number | null | undefined;
    readonly keysPerSec: number;
    readonly etaSeconds: number | null;
    readonly held?: number | undefined;
    readonly holdP99Ms?: number | undefined;
  } | null;
}

/** States after which an action changes no more. */
export const FINAL_STATES: ReadonlySet<string> = new Set(['done', 'failed', 'cancelled', 'rolled-back']);

const BAR_WIDTH = 24;

/** Bytes as the operator reads them: B, KB, MB, GB (powers of 1024, one decimal). */
export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** A duration in seconds as `42 s`, `3 m 05 s`, `1 h 02 m`. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return 'ETA ?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `ETA ${s} s`;
  if (s < 3600) return `ETA ${Math.floor(s / 60)} m ${String(s % 60).padStart(2, '0')} s`;
  return `ETA ${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} m`;
}

/**
 * One line for an action: the bar (filled by keys copied of the total, when
 * the total is known), state and phase, keys, bytes, rate and ETA.
 *
 * @example
 * formatActionProgress({ id: 'a-3', state: 'running', progress: { phase: 'copy', keysCopied: 500_000,
 *   keysTotal: 1_000_000, bytesCopied: 52_428_800, keysPerSec: 125_000, etaSeconds: 4 } });
 * // 'a-3 [############------------]  50 %  running copy  500,000/1,000,000 keys  50.0 MB  125,000 keys/s  ETA 4 s'
 */
export function formatActionProgress(a: FollowedAction): string {
  const p = a.progress;
  if (p === null || p === undefined) return `${a.id} ${a.state}${a.detail ? `: ${a.detail}` : ''}`;
  const total = p.keysTotal ?? null;
  const fraction =
    a.state === 'done' ? 1 : total === null || total <= 0 ? null : Math.min(1, p.keysCopied / total);
  const filled = fraction === null ? 0 : Math.round(fraction * BAR_WIDTH);
  const bar =
    fraction === null
      ? `[${'?'.padStart(BAR_WIDTH / 2).padEnd(BAR_WIDTH)}]    `
      : `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)} %`;
  const n = (x: number): string => Math.round(x).toLocaleString('en-US');
  const keys = total === null ? `${n(p.keysCopied)} keys` : `${n(p.keysCopied)}/${n(total)} keys`;
  const held = p.held === undefined || p.held === 0 ? '' : `  held ${n(p.held)} (p99 ${p.holdP99Ms ?? 0} ms)`;
  return (
    `${a.id} ${bar}  ${a.state} ${p.phase}  ${keys}  ${formatBytes(p.bytesCopied)}  ` +
    `${n(p.keysPerSec)} keys/s  ${FINAL_STATES.has(a.state) ? '' : formatEta(p.etaSeconds)}${held}`
  ).trimEnd();
}

/** How following is set up. */
export interface FollowOptions {
  /** Between polls (ms). */
  readonly pollMs: number;
  /** Where the bar goes (stderr: stdout stays for the result). */
  readonly out: { write(text: string): unknown; isTTY?: boolean | undefined };
  /** Off a terminal, the longest between two lines when nothing but the counts changed (ms). */
  readonly quietLineMs?: number | undefined;
  readonly sleep?: ((ms: number) => Promise<void>) | undefined;
}

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls GET /actions/{id} until the action ends; resolves with its last state. */
export async function followAction(
  flags: ApiFlags,
  id: string,
  options: FollowOptions,
): Promise<FollowedAction> {
  const { out, pollMs } = options;
  const sleep = options.sleep ?? wait;
  const quietMs = options.quietLineMs ?? 5000;
  const tty = out.isTTY === true;
  let lastPhase: string | undefined;
  let lastLine = 0;
  for (;;) {
    const { action } = await callApi<{ action: FollowedAction }>(
      flags,
      'GET',
      `/actions/${encodeURIComponent(id)}`,
    );
    const line = formatActionProgress(action);
    const ended = FINAL_STATES.has(action.state);
    const phase = `${action.state}/${action.progress?.phase ?? ''}`;
    if (tty) out.write(`\r\x1b[2K${line}${ended ? '\n' : ''}`);
    else if (ended || phase !== lastPhase || Date.now() - lastLine >= quietMs) {
      out.write(`${line}\n`);
      lastLine = Date.now();
    }
    lastPhase = phase;
    if (ended) return action;
    await sleep(pollMs);
  }
}
