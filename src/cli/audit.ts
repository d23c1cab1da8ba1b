/**
 * `hotshard audit`: the audit log of a running hotshard (GET /audit): every
 * change to the control plane, who made it, when and why.
 *
 *   hotshard audit [--since 2026-12-06T09:00:00Z] [--limit 50]
 */
import type { Command } from 'commander';
import type { AuditEntry } from '../control/audit.js';
import { callApi, intFlag, runCli, table, when, withApiFlags, type ApiFlags } from './api-client.js';

/** Registers `audit`. */
export function addAuditCommand(program: Command): void {
  withApiFlags(
    program.command('audit').description('every change to the control plane: who, when, what and why'),
  )
    .option('--since <time>', 'only entries at or after this time (ISO 8601, or ms since the epoch)')
    .option('--limit <n>', 'at most n, newest first (default 50)')
    .option('--json', 'print the JSON answer')
    .action((f: ApiFlags & { since?: string; limit?: string; json?: boolean }) =>
      runCli('audit', async () => {
        const query = new URLSearchParams({ limit: String(intFlag(f.limit, '--limit', 1) ?? 50) });
        if (f.since !== undefined) query.set('since', f.since);
        const res = await callApi<{ entries: AuditEntry[] }>(f, 'GET', `/audit?${query}`);
        if (f.json === true) return console.log(JSON.stringify(res, null, 2));
        if (res.entries.length === 0) return console.log('no changes audited');
        console.log(
          table(
            ['WHEN', 'WHO', 'VERB', 'TARGET', 'REASON', 'DETAILS'],
            res.entries.map((e) => [
              when(e.at),
              e.who,
              e.verb,
              e.target,
              e.reason ?? '-',
              JSON.stringify(e.details),
            ]),
          ),
        );
      }),
    );
}
