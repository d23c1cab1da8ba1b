/**
 * Serves the web dashboard: `GET /` is web/index.html, `GET /ui/<file>` the
 * page's scripts and styles (docs/dashboard.md).
 *
 * The assets are plain ES modules and CSS in the package's `web/` folder,
 * shipped as they are (package.json `files`): nothing is built at run time
 * or at install. They are read and gzipped once when the server starts
 * (about 60 KB, so memory is no concern) and answered from memory with an
 * ETag, so a reload costs a 304 and serving them never touches the disk.
 *
 * The page and its assets are public (no credentials): they hold no data.
 * Every number the page shows comes from the API with the token the operator
 * enters, under the API's own access rules.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '../errors.js';
import { sendHttpError } from '../router/http-errors.js';

/** The package's web/ folder: two levels up from src/dashboard/ and from dist/dashboard/ alike. */
export const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * Only our own files, nothing inline: a key name or shard id the page shows
 * can never become markup or script (the page writes text, never HTML), and
 * this makes that hold even if a bug slipped through.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** One asset, ready to send. */
export interface Asset {
  readonly path: string;
  readonly type: string;
  readonly body: Buffer;
  readonly gzipped: Buffer;
  readonly etag: string;
}

/** Every file under `dir`, depth first (readdir's `recursive` and `parentPath` need a later Node 20 than engines allows). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : [],
  );
}

/** Reads every servable file under `dir` (html, js, css, svg), keyed by URL path (`/` for index.html). */
export function loadAssets(dir: string = WEB_DIR): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  for (const file of filesUnder(dir)) {
    const type = TYPES[extname(file)];
    if (type === undefined) continue;
    const rel = file.slice(dir.length).split('\\').join('/').replace(/^\/?/, '/');
    const path = rel === '/index.html' ? '/' : rel;
    const body = readFileSync(file);
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    assets.set(path, { path, type, body, gzipped: gzipSync(body, { level: 9 }), etag });
  }
  return assets;
}

/** Total bytes of the assets as sent gzipped (the figure docs/dashboard.md reports). */
export function gzippedSize(assets: ReadonlyMap<string, Asset>): number {
  let n = 0;
  for (const a of assets.values()) n += a.gzipped.length;
  return n;
}

function send(asset: Asset, req: FastifyRequest, res: FastifyReply): FastifyReply {
  void res
    .header('content-type', asset.type)
    .header('etag', asset.etag)
    // Revalidated on every load, so a new version of hotshard never runs with an old script.
    .header('cache-control', 'no-cache')
    .header('vary', 'accept-encoding')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer');
  if (asset.type.startsWith('text/html')) void res.header('content-security-policy', CSP);
  if (req.headers['if-none-match'] === asset.etag) return res.code(304).send();
  const accepts = req.headers['accept-encoding'];
  if (typeof accepts === 'string' && /\bgzip\b/.test(accepts))
    return res.header('content-encoding', 'gzip').send(asset.gzipped);
  return res.send(asset.body);
}

/**
 * Registers `GET /` and one `GET /ui/...` route per asset (explicit routes, so
 * GET /openapi.json lists each file and an unknown one is a plain 404).
 */
export function registerDashboard(app: FastifyInstance, assets = loadAssets()): void {
  const config = { access: 'public' } as const;
  const schema = { summary: 'the web dashboard (docs/dashboard.md)', tags: ['dashboard'] };
  if (!assets.has('/')) {
    app.get('/', { config, schema }, (_req, res) =>
      sendHttpError(
        res,
        404,
        ErrorCode.NotFound,
        `the dashboard's files are not installed (no index.html in ${WEB_DIR})`,
      ),
    );
    return;
  }
  for (const asset of assets.values())
    app.get(asset.path, { config, schema }, (req, res) => send(asset, req, res));
}
