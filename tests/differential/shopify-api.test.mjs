// Differential tests: Shopify's own library (@shopify/shopify-api) and
// Advocate judge the same artifacts (webhook HMACs, OAuth callback query
// HMACs, app proxy signatures, session tokens), at least 1,000 generated
// cases each from a fixed seed. Advocate's verdicts come from its real
// verifiers through the `shopify-judge` example (examples/shopify-judge.rs).
//
// A disagreement fails the test, except in the classes listed in
// docs/development.md ("Differential tests"), where Advocate is knowingly
// stricter than Shopify's library; Advocate accepting what Shopify's library
// refuses is never allowed.

import {before, test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {createHmac} from 'node:crypto';
import {createRequire} from 'node:module';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import '@shopify/shopify-api/adapters/web-api';
import {shopifyApi, ApiVersion, LogSeverity} from '@shopify/shopify-api';

const LATEST_API_VERSION = ApiVersion.October25;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
// Shopify's own signer for queries (not exported by the package's entry).
const {generateLocalHmac} = require(
  path.join(root, 'node_modules/@shopify/shopify-api/dist/cjs/lib/utils/hmac-validator.js'),
);

const CASES = 1000;
const API_KEY = 'differential-client-id';
const SECRETS = ['hush', 'client-secret-ü', 'a'.repeat(64)];
// Set when cases are generated, just before they are judged.
let NOW = Math.trunc(Date.now() / 1000);
const refreshNow = () => {
  NOW = Math.trunc(Date.now() / 1000);
};

// The judge is built once up front (the build may wait for cargo's lock),
// then run directly, so verdicts come seconds after the cases are made.
const targetDir = process.env.CARGO_TARGET_DIR
  ? path.resolve(root, process.env.CARGO_TARGET_DIR)
  : path.join(root, 'target');
const judgeBinary = path.join(targetDir, 'debug', 'examples', 'shopify-judge');
before(() => {
  const build = spawnSync('cargo', ['build', '--quiet', '--example', 'shopify-judge'], {
    cwd: root,
    encoding: 'utf8',
    env: process.env,
  });
  assert.equal(build.status, 0, `building shopify-judge failed: ${build.stderr}`);
});

// mulberry32: small, seeded, deterministic.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gen(seed) {
  const r = rng(seed);
  const g = {
    int: (n) => Math.floor(r() * n),
    pick: (xs) => xs[Math.floor(r() * xs.length)],
    chance: (p) => r() < p,
    str(alphabet, min, max) {
      const n = min + Math.floor(r() * (max - min + 1));
      let s = '';
      for (let i = 0; i < n; i++) s += alphabet[Math.floor(r() * alphabet.length)];
      return s;
    },
  };
  return g;
}

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const ALNUM = LOWER + 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const HEX = '0123456789abcdef';
const SAFE = ALNUM + '-._*';
// Characters the canonical forms of Shopify's libraries treat differently.
const SPECIAL = [' ', '&', '=', '%', '+', '/', '?', '#', '~', '"', ',', 'é', 'ü', '日本', '😀', '\u0000'];
const UNICODE = ['é', 'ß', '日本語', '😀', 'Ωmega', '\u200b'];

const apis = new Map();
function api(secret) {
  if (!apis.has(secret)) {
    apis.set(
      secret,
      shopifyApi({
        apiKey: API_KEY,
        apiSecretKey: secret,
        scopes: [],
        hostName: 'advocate.example.com',
        apiVersion: LATEST_API_VERSION,
        isEmbeddedApp: true,
        logger: {level: LogSeverity.Error, log: () => {}},
      }),
    );
  }
  return apis.get(secret);
}

/** A raw query string in the given order, form-encoded as browsers send it. */
function rawQuery(pairs) {
  return pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

/** The query object a Node app hands to validateHmac: repeated keys become arrays. */
function queryObject(raw) {
  const object = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    if (k in object) object[k] = [].concat(object[k], v);
    else object[k] = v;
  }
  return object;
}

function shopName(g) {
  return g.str(LOWER, 1, 1) + g.str(LOWER + '0123456789-', 2, 20);
}

function judgeWithAdvocate(cases) {
  const input = cases.map((c) => JSON.stringify(c.advocate)).join('\n') + '\n';
  const run = spawnSync(judgeBinary, [], {
    cwd: root,
    input,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: process.env,
  });
  assert.equal(run.status, 0, `shopify-judge failed: ${run.stderr}`);
  const verdicts = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(verdicts.length, cases.length);
  return verdicts;
}

/**
 * Compares verdicts. `allowed(case, advocate)` says whether Advocate may
 * refuse a case Shopify's library accepts (a documented stricter rule).
 */
function compare(kind, cases, shopifyVerdicts, advocateVerdicts, allowed) {
  const failures = [];
  const tally = {agree: 0, stricter: 0};
  cases.forEach((c, i) => {
    const shopify = shopifyVerdicts[i];
    const advocate = advocateVerdicts[i];
    if (shopify === advocate.accept) {
      tally.agree++;
    } else if (shopify && !advocate.accept && allowed(c, advocate)) {
      tally.stricter++;
    } else {
      failures.push({case: c.label, shopify, advocate, artifact: c.advocate});
    }
  });
  assert.deepEqual(failures.slice(0, 5), [], `${kind}: ${failures.length} disagreements`);
  console.log(`${kind}: ${tally.agree} agree, ${tally.stricter} refused only by Advocate (documented)`);
  // The generators must produce both answers, or the comparison says little.
  assert.ok(shopifyVerdicts.filter(Boolean).length > cases.length / 10, `${kind}: too few valid cases`);
  assert.ok(shopifyVerdicts.filter((v) => !v).length > cases.length / 10, `${kind}: too few invalid cases`);
  return tally;
}

// Webhooks ---------------------------------------------------------------

function webhookCases() {
  const g = gen(1);
  const cases = [];
  for (let i = 0; i < CASES; i++) {
    const secret = g.pick(SECRETS);
    let body = JSON.stringify({
      id: g.int(2 ** 31) * 2 ** 21 + g.int(2 ** 21),
      note: g.str(ALNUM + ' ', 0, 30) + (g.chance(0.4) ? g.pick(UNICODE) : ''),
      total: `${g.int(100000) / 100}`,
    });
    let header = createHmac('sha256', secret).update(body, 'utf8').digest('base64');
    const variant = g.pick(['valid', 'valid', 'body', 'header', 'secret', 'truncated', 'hex', 'unpadded', 'empty-body']);
    if (variant === 'body') body = body.replace(/.$/, g.pick([' }', '}}', '😀}']));
    if (variant === 'header') header = header.slice(0, 5) + (header[5] === 'A' ? 'B' : 'A') + header.slice(6);
    if (variant === 'secret') header = createHmac('sha256', 'not-' + secret).update(body).digest('base64');
    if (variant === 'truncated') header = header.slice(0, g.int(header.length));
    if (variant === 'hex') header = createHmac('sha256', secret).update(body).digest('hex');
    if (variant === 'unpadded') header = header.replace(/=+$/, '');
    if (variant === 'empty-body') body = '';
    cases.push({label: `webhook ${i} ${variant}`, secret, body, header,
      advocate: {kind: 'webhook', secret, body, header}});
  }
  return cases;
}

async function shopifyJudgesWebhook(c) {
  const headers = new Headers({
    'X-Shopify-Hmac-Sha256': c.header,
    'X-Shopify-Topic': 'orders/paid',
    'X-Shopify-Shop-Domain': 'a-shop.myshopify.com',
    'X-Shopify-API-Version': LATEST_API_VERSION,
    'X-Shopify-Webhook-Id': 'w-1',
    'X-Shopify-Event-Id': 'e-1',
    'X-Shopify-Triggered-At': new Date().toISOString(),
  });
  const rawRequest = new Request('https://advocate.example.com/webhooks', {method: 'POST', headers, body: c.body || undefined});
  const result = await api(c.secret).webhooks.validate({rawBody: c.body, rawRequest});
  return result.valid;
}

// OAuth callback / app load ----------------------------------------------

function oauthCases() {
  const g = gen(2);
  const cases = [];
  for (let i = 0; i < CASES; i++) {
    const secret = g.pick(SECRETS);
    const shop = `${shopName(g)}.myshopify.com`;
    const special = g.chance(0.25);
    const value = () => (special ? g.str(SAFE, 0, 6) + g.pick(SPECIAL) + g.str(SAFE, 0, 6) : g.str(SAFE, 1, 16));
    let pairs = [
      ['code', g.str(HEX, 32, 32)],
      ['host', Buffer.from(`admin.shopify.com/store/${shop.split('.')[0]}`).toString('base64url')],
      ['shop', shop],
      ['state', value()],
      ['timestamp', String(NOW + g.int(20) - 10)],
    ];
    for (let n = g.int(3); n > 0; n--) pairs.push([g.str(LOWER, 1, 8), value()]);
    const variant = g.pick(['valid', 'valid', 'reordered', 'tampered', 'secret', 'stale', 'uppercase', 'repeated', 'missing']);
    if (variant === 'stale') pairs[4][1] = String(NOW - 1000);
    const signedObject = queryObject(rawQuery(pairs));
    if (variant === 'repeated') {
      const [k, v] = g.pick(pairs);
      pairs.push([k, v + 'x']);
    }
    const signingObject = variant === 'repeated' ? queryObject(rawQuery(pairs)) : signedObject;
    cases.push({label: `oauth ${i} ${variant}${special ? ' special' : ''}`, variant, special, secret, pairs, signingObject});
  }
  return cases;
}

async function finishOauthCases(cases) {
  for (const c of cases) {
    let hmac = await generateLocalHmac({apiSecretKey: c.variant === 'secret' ? 'not-' + c.secret : c.secret})(c.signingObject, 'admin');
    if (c.variant === 'uppercase') hmac = hmac.toUpperCase();
    let pairs = [...c.pairs];
    if (c.variant === 'tampered') pairs[2] = ['shop', 'attacker.myshopify.com'];
    if (c.variant !== 'missing') pairs.push(['hmac', hmac]);
    if (c.variant === 'reordered') pairs.reverse();
    c.query = rawQuery(pairs);
    c.advocate = {kind: 'oauth', secret: c.secret, query: c.query, now: NOW, max_skew: 90};
  }
}

async function shopifyJudgesQuery(c, signator) {
  try {
    return await api(c.secret).utils.validateHmac(queryObject(c.query), {signator});
  } catch {
    return false;
  }
}

// App proxy ----------------------------------------------------------------

function proxyCases() {
  const g = gen(3);
  const cases = [];
  for (let i = 0; i < CASES; i++) {
    const secret = g.pick(SECRETS);
    const unicode = g.chance(0.3);
    const value = () => g.str(SAFE, 0, 10) + (unicode ? g.pick([...UNICODE, ...SPECIAL]) : '');
    let pairs = [
      ['shop', `${shopName(g)}.myshopify.com`],
      ['logged_in_customer_id', g.chance(0.3) ? '' : String(g.int(2 ** 31))],
      ['path_prefix', '/apps/loyalty'],
      ['timestamp', String(NOW + g.int(20) - 10)],
    ];
    for (let n = g.int(3); n > 0; n--) pairs.push([g.str(LOWER, 1, 8), value()]);
    const variant = g.pick(['valid', 'valid', 'reordered', 'tampered', 'secret', 'stale', 'repeated-extra', 'repeated-customer', 'repeated-shop', 'uppercase', 'missing']);
    if (variant === 'stale') pairs[3][1] = String(NOW - 1000);
    if (variant === 'repeated-extra') pairs.push(['extra', '1'], ['extra', value()]);
    if (variant === 'repeated-customer') pairs.unshift(['logged_in_customer_id', '5555']);
    if (variant === 'repeated-shop') pairs.unshift(['shop', 'victim.myshopify.com']);
    cases.push({label: `proxy ${i} ${variant}${unicode ? ' unicode' : ''}`, variant, secret, pairs});
  }
  return cases;
}

async function finishProxyCases(cases) {
  for (const c of cases) {
    const object = queryObject(rawQuery(c.pairs));
    let signature = await generateLocalHmac({apiSecretKey: c.variant === 'secret' ? 'not-' + c.secret : c.secret})(object, 'appProxy');
    if (c.variant === 'uppercase') signature = signature.toUpperCase();
    let pairs = [...c.pairs];
    if (c.variant === 'tampered') pairs = pairs.map(([k, v]) => (k === 'logged_in_customer_id' ? [k, '1'] : [k, v]));
    if (c.variant !== 'missing') pairs.push(['signature', signature]);
    if (c.variant === 'reordered') pairs.reverse();
    c.query = rawQuery(pairs);
    c.advocate = {kind: 'proxy', secret: c.secret, query: c.query, now: NOW, max_skew: 90};
  }
}

// Session tokens -------------------------------------------------------------

const b64url = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
function jwt(secret, claims, header = {alg: 'HS256', typ: 'JWT'}) {
  const message = `${b64url(header)}.${b64url(claims)}`;
  const signature = createHmac('sha256', secret).update(message).digest('base64url');
  return `${message}.${signature}`;
}

// Shopify's library turns the secret into key bytes one UTF-16 unit each
// (not UTF-8); client secrets are ASCII, so session cases use ASCII ones.
const ASCII_SECRETS = SECRETS.filter((s) => /^[\x20-\x7e]*$/.test(s));

function sessionCases() {
  const g = gen(4);
  const cases = [];
  for (let i = 0; i < CASES; i++) {
    const secret = g.pick(ASCII_SECRETS);
    const shop = `${shopName(g)}.myshopify.com`;
    const other = `${shopName(g)}.myshopify.com`;
    const base = {aud: API_KEY, exp: NOW + 600, nbf: NOW - 1, iat: NOW - 1, jti: g.str(HEX, 16, 16)};
    const admin = {...base, iss: `https://${shop}/admin`, dest: `https://${shop}`, sub: String(1 + g.int(1e9)), sid: g.str(HEX, 8, 8)};
    const extension = {...base, dest: g.chance(0.5) ? shop : `https://${shop}`};
    if (g.chance(0.6)) extension.sub = `gid://shopify/Customer/${1 + g.int(1e12)}`;
    let claims = g.chance(0.5) ? admin : extension;
    let header;
    let key = secret;
    const variant = g.pick([
      'valid', 'valid', 'valid', 'secret', 'tampered', 'alg-none', 'alg-hs512', 'alg-rs256', 'expired', 'skew',
      'future-nbf', 'aud', 'aud-list', 'no-exp', 'iss-other-shop', 'dest-other-shop', 'customer-sub-on-admin',
      'staff-sub-on-extension', 'admin-iss-on-extension', 'dest-not-a-shop', 'unicode',
    ]);
    claims = {...claims};
    if (variant === 'secret') key = 'not-' + secret;
    if (variant === 'alg-none') header = {alg: 'none', typ: 'JWT'};
    if (variant === 'alg-hs512') header = {alg: 'HS512', typ: 'JWT'};
    if (variant === 'alg-rs256') header = {alg: 'RS256', typ: 'JWT'};
    if (variant === 'expired') claims.exp = NOW - 600;
    if (variant === 'skew') Object.assign(claims, {exp: NOW - 3, nbf: NOW + 3});
    if (variant === 'future-nbf') claims.nbf = NOW + 600;
    if (variant === 'aud') claims.aud = 'another-app';
    if (variant === 'aud-list') claims.aud = [API_KEY, 'another-app'];
    if (variant === 'no-exp') delete claims[g.pick(['exp', 'nbf'])];
    if (variant === 'iss-other-shop') Object.assign(claims, {...admin, iss: `https://${other}/admin`});
    if (variant === 'dest-other-shop') Object.assign(claims, {...admin, dest: `https://${other}`});
    if (variant === 'customer-sub-on-admin') Object.assign(claims, {...admin, sub: `gid://shopify/Customer/${1 + g.int(1e6)}`});
    if (variant === 'staff-sub-on-extension') Object.assign(claims, {...extension, sub: String(1 + g.int(1e6))});
    if (variant === 'admin-iss-on-extension') Object.assign(claims, {...extension, iss: `https://${shop}/admin`});
    if (variant === 'dest-not-a-shop') claims.dest = g.pick(['https://evil.example.com', `${shop}.evil.com`, `http://${shop}`, `https://${shop}/x`]);
    if (variant === 'unicode') claims.jti = g.pick(UNICODE);
    let token = jwt(key, claims, header);
    if (variant === 'alg-none') token = token.replace(/[^.]*$/, '');
    if (variant === 'tampered') {
      const [h, , s] = token.split('.');
      token = `${h}.${b64url({...claims, sub: claims.sub ? claims.sub + '1' : '1'})}.${s}`;
    }
    cases.push({label: `session ${i} ${variant}`, variant, secret, token,
      advocate: {kind: 'session', secret, api_key: API_KEY, token}});
  }
  return cases;
}

async function shopifyJudgesSession(c) {
  try {
    await api(c.secret).session.decodeSessionToken(c.token);
    return true;
  } catch {
    return false;
  }
}

const PROXY_PARAMETERS = ['shop', 'logged_in_customer_id', 'path_prefix', 'timestamp', 'signature'];

// Where Advocate is knowingly stricter (docs/development.md, "Differential tests").
const SHAPE_RULES = new Set(['BadShop', 'BadIssuer', 'BadSubject', 'NotAnAdminToken', 'NotAnExtensionToken', 'MissingClaim']);
const allowedStricter = {
  webhook: () => false,
  // Shopify's library signs a repeated key as `key[]`; Advocate refuses
  // repeated plain keys, and signs/reads values with the escapes of
  // Shopify's Python library rather than form-encoding them.
  oauth: (c, a) => (c.variant === 'repeated' && a.reason === 'RepeatedKey') || (c.special && a.reason === 'BadSignature'),
  proxy: (c, a) =>
    (['repeated-customer', 'repeated-shop'].includes(c.variant) && a.reason.startsWith('RepeatedParameter')) ||
    // A parameter Shopify does not send, or an `=` in a value, lets one
    // signature be split into other pairs (a `logged_in_customer_id`
    // Shopify never set); Advocate refuses both.
    (c.pairs.some(([k]) => !PROXY_PARAMETERS.includes(k)) && a.reason === 'UnexpectedParameter') ||
    (c.pairs.some(([, v]) => v.includes('=')) && a.reason === 'AmbiguousParameter'),
  // Shopify's library checks only signature, algorithm, times and aud; it
  // does not tell admin from extension tokens nor check dest, iss or sub.
  session: (c, a) => SHAPE_RULES.has(a.admin) && SHAPE_RULES.has(a.extension) && SHAPE_RULES.has(a.pos),
};

test('webhook HMACs: Advocate and @shopify/shopify-api agree', async () => {
  refreshNow();
  const cases = webhookCases();
  const shopify = [];
  for (const c of cases) shopify.push(await shopifyJudgesWebhook(c));
  const tally = compare('webhook', cases, shopify, judgeWithAdvocate(cases), allowedStricter.webhook);
  assert.equal(tally.agree, CASES);
});

test('OAuth callback HMACs: Advocate and @shopify/shopify-api agree', async () => {
  refreshNow();
  const cases = oauthCases();
  await finishOauthCases(cases);
  const shopify = [];
  for (const c of cases) shopify.push(await shopifyJudgesQuery(c, 'admin'));
  compare('oauth', cases, shopify, judgeWithAdvocate(cases), allowedStricter.oauth);
});

test('app proxy signatures: Advocate and @shopify/shopify-api agree', async () => {
  refreshNow();
  const cases = proxyCases();
  await finishProxyCases(cases);
  const shopify = [];
  for (const c of cases) shopify.push(await shopifyJudgesQuery(c, 'appProxy'));
  compare('proxy', cases, shopify, judgeWithAdvocate(cases), allowedStricter.proxy);
});

test('session tokens: Advocate and @shopify/shopify-api agree', async () => {
  refreshNow();
  const cases = sessionCases();
  const shopify = [];
  for (const c of cases) shopify.push(await shopifyJudgesSession(c));
  const advocate = judgeWithAdvocate(cases);
  compare('session', cases, shopify, advocate, allowedStricter.session);
  // The documented shapes are accepted, each by exactly one kind of
  // verifier: staff (admin, and POS, whose ID tokens Shopify issues in the
  // admin shape) or shopper (extension).
  cases.forEach((c, i) => {
    const {admin, extension, pos} = advocate[i];
    assert.equal(pos, admin, `${c.label}: the POS verifier takes what the admin one takes`);
    if (['valid', 'skew', 'unicode'].includes(c.variant)) {
      assert.ok((admin === 'ok') !== (extension === 'ok'), `${c.label}: ${admin} / ${extension}`);
    }
  });
});
