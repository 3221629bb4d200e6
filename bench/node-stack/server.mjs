// The official Node stack, for `advocate-bench webhooks --node-stack`:
// Shopify's own library (@shopify/shopify-api) validates each webhook, and
// better-sqlite3 stores it, then the answer is 200. As most Node apps run
// it: one process, SQLite in WAL mode with `synchronous = NORMAL`, so a
// commit is not synced to disk before the answer (not durable, unlike
// Advocate and the bench's HMAC + fsync floor).
//
//   node server.mjs --port 8099 --database /tmp/node-stack.db

import http from 'node:http';
import {parseArgs} from 'node:util';

import '@shopify/shopify-api/adapters/node';
import {shopifyApi, ApiVersion, LogSeverity} from '@shopify/shopify-api';
import Database from 'better-sqlite3';

const {values} = parseArgs({
  options: {
    port: {type: 'string'},
    database: {type: 'string'},
    secret: {type: 'string', default: 'bench-client-secret'},
  },
});
if (!values.port || !values.database) {
  console.error('usage: node server.mjs --port PORT --database FILE [--secret SECRET]');
  process.exit(2);
}

const shopify = shopifyApi({
  apiKey: 'bench-client-id',
  apiSecretKey: values.secret,
  scopes: ['read_orders'],
  hostName: 'advocate.bench',
  apiVersion: ApiVersion.October25,
  isEmbeddedApp: true,
  logger: {level: LogSeverity.Error},
});

const db = new Database(values.database);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`CREATE TABLE IF NOT EXISTS webhooks (
  id INTEGER PRIMARY KEY,
  webhook_id TEXT NOT NULL UNIQUE,
  shop TEXT NOT NULL,
  topic TEXT NOT NULL,
  body BLOB NOT NULL
)`);
const insert = db.prepare(
  'INSERT INTO webhooks (webhook_id, shop, topic, body) VALUES (?, ?, ?, ?) ON CONFLICT (webhook_id) DO NOTHING',
);

// Bodies over 1 MiB are refused, as Advocate refuses them.
const LIMIT = 1 << 20;
// Answers carry no body, and say so.
const EMPTY = {'Content-Length': '0'};

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/webhooks') {
    res.writeHead(404, EMPTY).end();
    return;
  }
  const chunks = [];
  let length = 0;
  req.on('data', (chunk) => {
    length += chunk.length;
    if (length > LIMIT) {
      res.writeHead(413, EMPTY).end();
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', async () => {
    if (length > LIMIT) return;
    const rawBody = Buffer.concat(chunks).toString('utf8');
    try {
      const check = await shopify.webhooks.validate({rawBody, rawRequest: req, rawResponse: res});
      if (!check.valid) {
        res.writeHead(401, EMPTY).end();
        return;
      }
      insert.run(check.webhookId, check.domain, check.topic, rawBody);
      res.writeHead(200, EMPTY).end();
    } catch (e) {
      res.writeHead(500, EMPTY).end();
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), '127.0.0.1');
