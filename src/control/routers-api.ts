/**
 * GET /routers: the routers sharing this one's config store (the registry of
 * src/store/cutover.ts), each with its lease, and which one answers. A move's
 * cutover waits for every live router's hold, so this is where an operator
 * sees who a slow cutover is waiting for. On the embedded store the answer
 * is this router alone (`shared: false`).
 */
import type { FastifyInstance } from 'fastify';
import { sendHttpError } from '../router/http-errors.js';
import { ErrorCode } from '../errors.js';
import type { StoreLink } from '../store/attach.js';
import { errorBody, open } from './schema.js';

const routerSchema = open({
  id: { type: 'string' },
  address: { type: 'string' },
  startedAt: { type: 'number' },
  heartbeatAt: { type: 'number' },
  leaseMs: { type: 'number' },
  live: { type: 'boolean' },
});

/** Registers GET /routers. */
export function registerRoutersApi(app: FastifyInstance, link: StoreLink): void {
  app.get(
    '/routers',
    {
      schema: {
        summary:
          'the routers sharing the config store, with their leases (a cutover waits for the live ones)',
        tags: ['nodes'],
        response: {
          200: open({
            self: { type: ['string', 'null'] },
            shared: { type: 'boolean' },
            holding: { type: 'integer' },
            routers: { type: 'array', items: routerSchema },
          }),
          '5xx': errorBody,
        },
      },
    },
    async (_req, res) => {
      const cutover = link.cutover;
      if (cutover === undefined) return { self: null, shared: false, holding: 0, routers: [] };
      try {
        const routers = await link.store.routers.list();
        return { self: cutover.routerId, shared: true, holding: cutover.holding, routers };
      } catch (err) {
        return sendHttpError(res, 503, ErrorCode.StoreUnavailable, (err as Error).message);
      }
    },
  );
}
