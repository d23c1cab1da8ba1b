/**
 * docs/grafana-dashboard.json against the metrics hotshard exports: every
 * metric and label a query uses must exist (so the two cannot drift), every
 * exported family is on the dashboard, and the file has what a Grafana import
 * needs.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/control/metrics.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';

const DASHBOARD = new URL('../../docs/grafana-dashboard.json', import.meta.url);
const METRICS_SOURCE = new URL('../../src/control/metrics.ts', import.meta.url);
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['instance', 'job'];
const DATASOURCE = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };

interface Target {
  expr?: string;
  datasource?: unknown;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: unknown;
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[];
  schemaVersion: number;
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown; datasource?: unknown }[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queries: string[] = [
  ...panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? '')),
  ...dashboard.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => (typeof v.query === 'string' ? v.query : (v.query as { query: string }).query)),
];

/** Metric names a PromQL expression reads. */
const metricsIn = (expr: string): string[] => [...new Set(expr.match(/\bhotshard_[a-z0-9_]+\b/g) ?? [])];

/** Label names an expression groups by or matches on, with the metric a matcher belongs to. */
function labelsIn(expr: string): { label: string; metric: string | null }[] {
  const out: { label: string; metric: string | null }[] = [];
  for (const m of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
    for (const l of m[1]!.split(',')) if (l.trim() !== '') out.push({ label: l.trim(), metric: null });
  }
  for (const m of expr.matchAll(/\b(hotshard_[a-z0-9_]+)\s*\{([^}]*)\}/g)) {
    for (const l of m[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
      out.push({ label: l[1]!, metric: m[1]! });
    }
  }
  // label_values(metric, label)
  for (const m of expr.matchAll(/label_values\(\s*(hotshard_[a-z0-9_]+)[^,]*,\s*([a-zA-Z_]\w*)\s*\)/g)) {
    out.push({ label: m[2]!, metric: m[1]! });
  }
  return out;
}

describe('grafana dashboard', () => {
  let t: TestHotshard;
  /** Exported family -> label names, from the registry metrics.ts builds. */
  const families = new Map<string, string[]>();

  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'memory' });
    const registry = createMetrics({
      router: t.hs.router,
      telemetry: t.hs.telemetry!,
      monitor: t.hs.monitor!,
    });
    for (const m of registry.getMetricsAsArray()) {
      if (m.name.startsWith('hotshard_process_')) continue;
      const labels = (m as unknown as { labelNames?: unknown }).labelNames;
      if (!Array.isArray(labels)) throw new Error(`cannot read the label names of ${m.name}`);
      families.set(m.name, labels as string[]);
    }
  });
  afterAll(async () => t?.stop());

  it('grafana dashboard - every metric a query uses is exported by src/control/metrics.ts', () => {
    const source = readFileSync(METRICS_SOURCE, 'utf8');
    const used = new Set(queries.flatMap(metricsIn));
    expect(used.size).toBeGreaterThanOrEqual(10);
    for (const name of used) {
      expect(families.has(name), `${name} is not registered`).toBe(true);
      expect(source, `${name} is not named in metrics.ts`).toContain(`'${name}'`);
    }
  });

  it('grafana dashboard - every exported hotshard family appears on the dashboard', () => {
    expect(families.size).toBeGreaterThanOrEqual(10);
    const used = new Set(queries.flatMap(metricsIn));
    for (const name of families.keys()) expect(used.has(name), `${name} has no panel`).toBe(true);
  });

  it('grafana dashboard - every label a query groups by or matches on exists on its metrics', () => {
    for (const expr of queries) {
      const inExpr = metricsIn(expr);
      expect(inExpr.length, expr).toBeGreaterThan(0);
      for (const { label, metric } of labelsIn(expr)) {
        if (TARGET_LABELS.includes(label)) continue;
        const allowed = metric === null ? inExpr.flatMap((m) => families.get(m) ?? []) : families.get(metric);
        expect(allowed, `${label} in ${expr}`).toContain(label);
      }
    }
  });

  it('grafana dashboard - importable: a DS_PROMETHEUS input, unique panel ids, layout, datasource on every query', () => {
    expect(dashboard.__inputs).toContainEqual(
      expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }),
    );
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.title).toBe('hotshard');
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      expect(p.gridPos.h, p.title).toBeGreaterThan(0);
      if (p.type === 'row') continue;
      expect(p.datasource, p.title).toEqual(DATASOURCE);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const target of p.targets ?? []) expect(target.datasource, p.title).toEqual(DATASOURCE);
    }
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
      expect(v.datasource, v.name).toEqual(DATASOURCE);
    }
    // No two panels overlap.
    const cells = new Set<string>();
    for (const p of panels) {
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          const cell = `${x},${y}`;
          expect(cells.has(cell), `${p.title} overlaps at ${cell}`).toBe(false);
          cells.add(cell);
        }
      }
    }
  });

  it('grafana dashboard - has the panels the runbook refers to', () => {
    const byType = (type: string) => panels.filter((p) => p.type === type).map((p) => p.title);
    expect(byType('heatmap')).toContain('Ops/s by shard');
    expect(byType('table')).toContain('Top hot keys');
    expect(byType('gauge')).toEqual(expect.arrayContaining(['Gini', 'max / mean']));
    expect(byType('timeseries')).toEqual(
      expect.arrayContaining([
        'Ops/s by node',
        'p99 by node',
        'In flight by node',
        'Errors and shed by node',
        'Active hotspots by kind and severity',
        'Ops/s by tenant',
      ]),
    );
  });
});
