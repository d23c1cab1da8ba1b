/**
 * `hotshard incidents`: the incidents of a running hotshard (GET /incidents),
 * one in full with its timeline and summary (GET /incidents/{id}), or the
 * customer-facing status page (GET /status).
 *
 *   hotshard incidents [--state open|resolved] [--limit 20]
 *   hotshard incidents inc-3
 *   hotshard incidents --status [--tenant acme]
 */
import type { Command } from 'commander';
import type { Incident, IncidentNotice } from '../control/incident.js';
import { callApi, intFlag, runCli, table, when, withApiFlags, type ApiFlags } from './api-client.js';

interface IncidentsFlags extends ApiFlags {
  state?: string;
  limit?: string;
  status?: boolean;
  tenant?: string;
  json?: boolean;
}

const seconds = (ms: number | null): string => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);

function printIncident(i: Incident): void {
  const lines: [string, string][] = [
    ['id', i.id],
    ['state', i.state],
    ['severity', i.severity],
    ['title', i.title],
    ['opened', when(i.openedAt)],
    ['onset', when(i.onset)],
    ['resolved', when(i.resolvedAt)],
    ['customers', i.customerText],
    ['slos', i.slos.map((s) => `${s.slo} ${s.status} (${s.objective})`).join('; ')],
    [
      'tenants',
      i.tenants
        .map(
          (t) =>
            `${t.tenant} ${Math.round(t.share * 100)}%${t.hotShare === null ? '' : ` (hot ${Math.round(t.hotShare * 100)}%)`}`,
        )
        .join(', ') || '-',
    ],
    ['nodes', i.scope.nodes.join(', ') || '-'],
    ['keys', i.scope.keys.join(', ') || '-'],
  ];
  if (i.expectedRecoveryAt !== null) lines.push(['expected', `recovery by ${when(i.expectedRecoveryAt)}`]);
  for (const [k, v] of lines) console.log(`${k.padEnd(10)} ${v}`);
  if (i.actions.length > 0) {
    console.log('\nactions');
    console.log(
      table(
        ['ID', 'KIND', 'SUBJECT', 'STATE', 'OUTCOME', 'BY'],
        i.actions.map((a) => [a.id, a.kind, a.subject, a.state, a.outcome, a.by]),
      ),
    );
  }
  console.log('\ntimeline');
  for (const e of i.timeline) console.log(`${when(e.at)}  ${e.text}`);
  if (i.summary !== null) {
    const s = i.summary;
    console.log('\nsummary');
    console.log(`detected after   ${seconds(s.detectionLatencyMs)}`);
    console.log(`first action     ${seconds(s.timeToMitigateMs)} after detection`);
    console.log(`restored after   ${seconds(s.timeToRestoreMs)} from onset`);
    console.log(`failed requests  ${s.failedRequests}`);
    console.log(`peak p99         ${s.peakP99Ms === null ? '-' : `${s.peakP99Ms.toFixed(1)} ms`}`);
  }
}

/** Registers `incidents`. */
export function addIncidentsCommand(program: Command): void {
  withApiFlags(
    program
      .command('incidents')
      .argument('[id]', 'one incident in full: timeline, actions, summary')
      .description('incidents: what hurt whom, what was done, and how it ended'),
  )
    .option('--state <state>', 'only open or resolved incidents')
    .option('--limit <n>', 'at most n, open first then newest (default 20)')
    .option('--status', 'the customer-facing status page instead (GET /status)')
    .option('--tenant <name>', 'with --status: the incidents that affect this tenant')
    .option('--json', 'print the JSON answer')
    .action((id: string | undefined, f: IncidentsFlags) =>
      runCli('incidents', async () => {
        if (f.status === true) {
          const query = f.tenant === undefined ? '' : `?tenant=${encodeURIComponent(f.tenant)}`;
          const res = await callApi<{ status: string; incidents: IncidentNotice[] }>(
            f,
            'GET',
            `/status${query}`,
          );
          if (f.json === true) return console.log(JSON.stringify(res, null, 2));
          console.log(`status: ${res.status}`);
          for (const n of res.incidents)
            console.log(`${when(n.startedAt)}  ${n.state.padEnd(13)}  ${n.text}`);
          return;
        }
        if (id !== undefined) {
          const res = await callApi<{ incident: Incident }>(f, 'GET', `/incidents/${encodeURIComponent(id)}`);
          if (f.json === true) return console.log(JSON.stringify(res, null, 2));
          return printIncident(res.incident);
        }
        const query = new URLSearchParams();
        if (f.state !== undefined) query.set('state', f.state);
        query.set('limit', String(intFlag(f.limit, '--limit', 1) ?? 20));
        const res = await callApi<{ open: number; incidents: Incident[] }>(f, 'GET', `/incidents?${query}`);
        if (f.json === true) return console.log(JSON.stringify(res, null, 2));
        if (res.incidents.length === 0) return console.log('no incidents');
        console.log(
          table(
            ['ID', 'OPENED', 'STATE', 'SEVERITY', 'ACTIONS', 'TITLE'],
            res.incidents.map((i) => [
              i.id,
              when(i.openedAt),
              i.state,
              i.severity,
              String(i.actions.length),
              i.title,
            ]),
            80,
          ),
        );
        console.log(`\n${res.open} open`);
      }),
    );
}
