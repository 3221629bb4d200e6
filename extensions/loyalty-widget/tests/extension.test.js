// Static checks of the theme app extension: layout, schemas, translations, size limits.
// Run: node --test extensions/loyalty-widget/tests/   (no dependencies, offline)
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const read = (...p) => fs.readFileSync(path.join(root, ...p), 'utf8');
const list = (dir) => fs.readdirSync(path.join(root, dir));
const json = (...p) => JSON.parse(read(...p));

const blocks = Object.fromEntries(list('blocks').map((f) => [f, read('blocks', f)]));
const snippets = Object.fromEntries(list('snippets').map((f) => [f, read('snippets', f)]));
const liquid = { ...blocks, ...snippets };
const schemaOf = (src) => JSON.parse(/\{%-?\s*schema\s*-?%\}([\s\S]*?)\{%-?\s*endschema\s*-?%\}/.exec(src)[1]);

// "a.b.c" in an object.
const lookup = (obj, key) => key.split('.').reduce((o, k) => (o && typeof o == 'object' ? o[k] : undefined), obj);
const leaves = (obj, prefix = '') =>
  Object.entries(obj).flatMap(([k, v]) => (typeof v == 'object' ? leaves(v, prefix + k + '.') : [prefix + k]));

const locales = { en: json('locales', 'en.default.json'), fr: json('locales', 'fr.json') };
const schemaLocales = { en: json('locales', 'en.default.schema.json'), fr: json('locales', 'fr.schema.json') };

test('the extension is a theme app extension with only the folders Shopify accepts', () => {
  const toml = read('shopify.extension.toml');
  assert.match(toml, /^type\s*=\s*"theme"\s*$/m);
  assert.match(toml, /^name\s*=\s*".+"\s*$/m);
  assert.match(toml, /^handle\s*=\s*"[a-z0-9-]+"\s*$/m);
  const allowed = { assets: /\.(js|css|svg|png|jpe?g)$/, blocks: /\.liquid$/, snippets: /\.liquid$/, locales: /\.json$/ };
  for (const [dir, re] of Object.entries(allowed)) for (const f of list(dir)) assert.match(f, re, `${dir}/${f}`);
  // Anything else in a folder must be left out of the bundle by .shopifyignore.
  const ignored = read('.shopifyignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const d of fs.readdirSync(root, { withFileTypes: true })) {
    if (d.isDirectory() && !(d.name in allowed)) assert.ok(ignored.includes(d.name + '/*'), `${d.name}/ must be in .shopifyignore`);
  }
});

test('size limits: JavaScript under 10 kB (theme-check), Liquid under 100 kB, bundle small', () => {
  const size = (...p) => fs.statSync(path.join(root, ...p)).size;
  for (const js of ['loyalty-widget.js', 'loyalty-offers.js', 'loyalty-earn.js']) assert.ok(size('assets', js) < 10000, `${js} is ${size('assets', js)} B`);
  assert.ok(size('assets', 'loyalty-widget.css') < 100000);
  const liquidBytes = Object.values(liquid).reduce((n, s) => n + Buffer.byteLength(s), 0);
  assert.ok(liquidBytes < 100 * 1024, `Liquid is ${liquidBytes} B`);
  const all = ['assets', 'blocks', 'snippets', 'locales'].flatMap((d) => list(d).map((f) => size(d, f)));
  assert.ok(all.reduce((a, b) => a + b, 0) < 200 * 1024);
});

test('no third-party script: our own JS files only, no CDN; a <script src> only for our own asset', () => {
  const scripts = list('assets').filter((f) => f.endsWith('.js'));
  assert.deepEqual(scripts, ['loyalty-earn.js', 'loyalty-offers.js', 'loyalty-widget.js']);
  // The only addresses in a script: the networks' share pages, opened by the shopper in a new tab.
  const shareLinks = ['https://www.facebook.com/sharer/sharer.php?u=', 'https://twitter.com/intent/tweet?url=',
    'https://www.linkedin.com/sharing/share-offsite/?url=', 'https://pinterest.com/pin/create/button/?url='];
  for (const f of scripts) {
    const js = read('assets', f);
    const urls = js.match(/https?:\/\/[^'"`\s]*/g) || [];
    assert.deepEqual(urls, f == 'loyalty-earn.js' ? shareLinks : [], f);
    assert.doesNotMatch(js, /\bimport\b|\brequire\(/, f);
  }
  for (const [f, src] of Object.entries(liquid)) {
    for (const tag of src.match(/<script[^>]*\ssrc=[^>]*>/gi) || []) {
      assert.match(tag, /^<script src="\{\{ '([\w-]+\.js)' \| asset_url \}\}" defer>$/, f);
      assert.ok(scripts.includes(/'([\w-]+\.js)'/.exec(tag)[1]), tag);
    }
    assert.doesNotMatch(src, /<link[^>]*stylesheet/i, f);
    assert.doesNotMatch(src, /https?:\/\//, f);
  }
});

test('block schemas are valid JSON: an app embed on body, an app block on a section', () => {
  const launcher = schemaOf(blocks['launcher.liquid']);
  const account = schemaOf(blocks['account.liquid']);
  assert.equal(launcher.target, 'body');
  assert.equal(account.target, 'section');
  for (const s of [launcher, account]) {
    assert.equal(s.javascript, 'loyalty-widget.js');
    assert.equal(s.stylesheet, 'loyalty-widget.css');
    assert.ok(fs.existsSync(path.join(root, 'assets', s.javascript)));
    assert.ok(fs.existsSync(path.join(root, 'assets', s.stylesheet)));
    const ids = s.settings.filter((x) => x.id).map((x) => x.id);
    assert.equal(new Set(ids).size, ids.length, 'setting ids are unique');
    for (const x of s.settings) {
      if (x.type == 'range') {
        assert.ok((x.max - x.min) / x.step <= 101, x.id + ': at most 101 steps');
        assert.equal((x.default - x.min) % x.step, 0, x.id + ': default on a step');
        assert.ok(x.default >= x.min && x.default <= x.max, x.id);
      }
      if (x.type == 'select') assert.ok(x.options.some((o) => o.value == x.default), x.id);
    }
  }
  // Colour and position are theme settings.
  assert.ok(launcher.settings.some((x) => x.id == 'position'));
  assert.ok(launcher.settings.some((x) => x.type == 'color'));
  assert.ok(account.settings.some((x) => x.type == 'color'));
  assert.ok(account.settings.some((x) => x.id == 'min_height'));
});

test('schema labels are translated in en.default.schema.json and fr.schema.json', () => {
  const refs = Object.values(blocks).flatMap((src) => JSON.stringify(schemaOf(src)).match(/"t:[^"]+"/g) || []);
  assert.ok(refs.length > 10);
  for (const r of refs) {
    const key = r.slice(3, -1);
    for (const [lang, obj] of Object.entries(schemaLocales)) assert.equal(typeof lookup(obj, key), 'string', `${lang}: ${key}`);
  }
  assert.deepEqual(leaves(schemaLocales.fr).sort(), leaves(schemaLocales.en).sort());
});

test('storefront texts: every key used in Liquid exists in English and French', () => {
  assert.deepEqual(leaves(locales.fr).sort(), leaves(locales.en).sort());
  const used = Object.values(liquid).flatMap((src) => [...src.matchAll(/'(loyalty\.[\w.]+)'\s*\|\s*t\b/g)].map((m) => m[1]));
  assert.ok(used.length > 20);
  for (const key of used) for (const [lang, obj] of Object.entries(locales)) assert.equal(typeof lookup(obj, key), 'string', `${lang}: ${key}`);
  for (const obj of Object.values(locales)) assert.equal(lookup(obj, 'loyalty.birthday.months').split(',').length, 12);
});

test('the JS strings passed from Liquid cover every text the script reads', () => {
  const snippet = snippets['loyalty-panel.liquid'];
  const passed = Object.fromEntries([...snippet.matchAll(/"(\w+)":\s*\{\{\s*'loyalty\.js\.(\w+)'\s*\|\s*t\s*\|\s*json\s*\}\}/g)].map((m) => [m[1], m[2]]));
  for (const [name, key] of Object.entries(passed)) assert.equal(name, key);
  assert.deepEqual(Object.keys(passed).sort(), Object.keys(locales.en.loyalty.js).sort());
  const js = ['loyalty-widget.js', 'loyalty-offers.js', 'loyalty-earn.js'].map((f) => read('assets', f)).join('\n');
  const read_ = new Set([...js.matchAll(/\bt\.(\w+)/g)].map((m) => m[1]));
  for (const m of js.matchAll(/say\('(\w+)'|key: '(\w+)'/g)) read_.add(m[1] || m[2]);
  for (const k of read_) assert.ok(k in passed, `t.${k} is not passed from Liquid`);
});

test('the markup has every element the script fills', () => {
  const snippet = snippets['loyalty-panel.liquid'];
  const names = new Set([...snippet.matchAll(/data-lw="(\w+)"/g)].map((m) => m[1]));
  for (const n of ['i18n', 'out', 'skel', 'err', 'in', 'msg', 'balance', 'pending', 'tier', 'progress', 'rewards',
    'codebox', 'code', 'codenote', 'refbox', 'ref', 'bday', 'bform', 'near', 'offers', 'products', 'earnbox', 'earn']) assert.ok(names.has(n), n);
  assert.match(snippet, /data-lw-copy="ref"/);
  assert.match(snippet, /data-lw-copy="code"/);
  assert.match(snippet, /data-lw-retry/);
  assert.match(snippet, /role="status"\s+aria-live="polite"/);
  assert.match(snippet, /routes\.account_login_url/);
  assert.match(snippet, /routes\.account_register_url/);
  assert.match(snippet, /\{%-?\s*if customer\s*-?%\}/);
  const launcher = blocks['launcher.liquid'];
  assert.match(launcher, /<button[^>]*data-lw-toggle[^>]*aria-expanded="false"/);
  assert.match(launcher, /aria-controls="lw-panel-\{\{ block\.id \}\}"/);
  assert.match(launcher, /data-lw-close/);
  assert.match(launcher, /tabindex="-1"/);
  // Liquid tags are balanced.
  for (const [f, src] of Object.entries(liquid)) {
    for (const tag of ['if', 'for', 'comment', 'schema', 'unless', 'capture']) {
      const open = (src.match(new RegExp(`\\{%-?\\s*${tag}\\b`, 'g')) || []).length;
      const close = (src.match(new RegExp(`\\{%-?\\s*end${tag}\\b`, 'g')) || []).length;
      assert.equal(open, close, `${f}: ${tag}`);
    }
  }
});
