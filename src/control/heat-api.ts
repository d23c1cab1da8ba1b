/**
 * The dashboard's heatmaps over HTTP:
 *
 *   GET /heat?metric=qps|p99|utilization|bytes&seconds=600
 *       shard × time (heat-history.ts): at 1 s up to 600 s, at 10 s from
 *       the stored history beyond (up to a day)
 *   GET /heat/keyspace?metric=qps|bytes&buckets=1000&seconds=600
 *       keyspace position × time (heat-keyspace.ts), at 1 s
 *
 * Both name shards, nodes and key ranges: `access: 'read'`, as /incidents.
 * Scales are absolute (capacity, SLO, a fixed bytes/s), never relative to the
 * view, so a quiet cluster looks quiet.
 */
import type { FastifyInstance } from 'fastify';
import type { RouterTelemetry } from '../telemetry/router-telemetry.js';
import { HEAT_METRICS, type HeatHistory, type HeatMetric } from './heat-history.js';
import { FINE_BUCKETS, type KeyspaceHeat, type KeyspaceMetric } from './heat-keyspace.js';
import { closed, errorBody, open, schemaMessage } from './schema.js';

/** What the heat routes read. */
export interface HeatApiDeps {
  readonly history: HeatHistory;
  readonly keyspace: KeyspaceHeat;
  readonly telemetry: RouterTelemetry;
}

/** Longest window of GET /heat (the stored history's retention). */
export const MAX_HEAT_SECONDS = 86_400;

const scaleSchema = open({ min: { type: 'number' }, max: { type: 'number' }, why: { type: 'string' } });
const matrix = (cell: object): object => ({ type: 'array', items: { type: 'array', items: cell } });

/** Registers GET /heat and GET /heat/keyspace. */
export function registerHeatApi(app: FastifyInstance, deps: HeatApiDeps): void {
  const { history, keyspace, telemetry } = deps;
  const tags = ['dashboard'];

  app.get<{ Querystring: { metric: HeatMetric; seconds: number } }>(
    '/heat',
    {
      config: { access: 'read' },
      schema: {
        summary: 'shard × time heatmap of one metric, on an absolute scale (1 s up to 600 s, 10 s beyond)',
        tags,
        querystring: closed({
          metric: { enum: [...HEAT_METRICS], default: 'qps' },
          seconds: { type: 'integer', minimum: 10, maximum: MAX_HEAT_SECONDS, default: 600 },
        }),
        response: {
          200: open({
            metric: { enum: [...HEAT_METRICS] },
            unit: { type: 'string' },
            stepMs: { type: 'integer' },
            from: { type: 'number' },
            to: { type: 'number' },
            rows: {
              type: 'array',
              items: open({
                id: { type: 'string' },
                node: { type: 'string' },
                start: { type: ['string', 'null'] },
                end: { type: ['string', 'null'] },
                status: { type: 'string' },
              }),
            },
            values: matrix({ type: ['number', 'null'] }),
            scale: scaleSchema,
          }),
          '4xx': errorBody,
        },
      },
      schemaErrorFormatter: schemaMessage,
    },
    (req) => history.view(req.query.metric, req.query.seconds),
  );

  app.get<{ Querystring: { metric: KeyspaceMetric; buckets: number; seconds: number } }>(
    '/heat/keyspace',
    {
      config: { access: 'read' },
      schema: {
        summary:
          'keyspace position buckets × time heatmap (hash position, or key order inside each range), at 1 s',
        tags,
        querystring: closed({
          metric: { enum: ['qps', 'bytes'], default: 'qps' },
          buckets: { type: 'integer', minimum: 16, maximum: FINE_BUCKETS, default: 1000 },
          seconds: { type: 'integer', minimum: 10, maximum: keyspace.seconds, default: 600 },
        }),
        response: {
          200: open({
            partitioner: { enum: ['hash', 'range'] },
            buckets: { type: 'integer' },
            stepMs: { type: 'integer' },
            from: { type: 'number' },
            to: { type: 'number' },
            edges: { type: 'array', items: open({ bucket: { type: 'integer' }, label: { type: 'string' } }) },
            shardOfBucket: { type: 'array', items: { type: 'string' } },
            values: matrix({ type: 'number' }),
            scale: scaleSchema,
          }),
          '4xx': errorBody,
        },
      },
      schemaErrorFormatter: schemaMessage,
    },
    (req) => {
      const { metric, buckets, seconds } = req.query;
      const view = keyspace.view(metric, buckets, seconds, telemetry.second);
      // A bucket lies in one shard, which one node serves: the qps scale is a node's, bytes a link's.
      const qps = history.scale('qps');
      const scale =
        metric === 'qps'
          ? { min: 0, max: qps.max, why: `a bucket is served by one node: ${qps.why}` }
          : history.scale('bytes');
      return { ...view, scale };
    },
  );
}
