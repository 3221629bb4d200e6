// The configuration agrees with the code: each target in
// shopify.extension.toml has its module, and it renders the survey; every
// translation key the code uses exists in every locale.

import assert from 'node:assert/strict';
import {existsSync, readFileSync, readdirSync} from 'node:fs';
import {describe, it} from 'node:test';

import {ORDER_STATUS_TARGET, THANK_YOU_TARGET} from '../src/lib/host.js';
import {loadLocale} from './fakes.js';

const root = new URL('../', import.meta.url);
const toml = readFileSync(new URL('shopify.extension.toml', root), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));

describe('shopify.extension.toml', () => {
  it('is a UI extension with network access', () => {
    assert.match(toml, /^type = "ui_extension"$/m);
    assert.match(toml, /^network_access = true$/m);
  });

  it('uses the API version of the @shopify/ui-extensions it depends on', () => {
    const [, year, month] = pkg.dependencies['@shopify/ui-extensions'].match(/^(\d{4})\.(\d{1,2})\./);
    assert.match(toml, new RegExp(`^api_version = "${year}-${month.padStart(2, '0')}"$`, 'm'));
  });

  it('targets the thank-you and order-status pages, each with its module', () => {
    const blocks = [...toml.matchAll(/\[\[extensions\.targeting\]\]\s*\nmodule = "([^"]+)"\s*\ntarget = "([^"]+)"/g)];
    const targets = Object.fromEntries(blocks.map((m) => [m[2], m[1]]));
    assert.deepEqual(Object.keys(targets).sort(), [ORDER_STATUS_TARGET, THANK_YOU_TARGET].sort());
    for (const [target, module] of Object.entries(targets)) {
      const file = new URL(module, root);
      assert.ok(existsSync(file), `${module} exists`);
      const source = readFileSync(file, 'utf8');
      assert.match(source, /import '@shopify\/ui-extensions\/preact';/);
      assert.ok(source.includes(`renderSurvey('${target}')`), `${module} renders for ${target}`);
    }
  });
});

describe('locales', () => {
  const english = loadLocale('en.default');
  const placeholders = (text) => [...text.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]).sort();

  for (const name of ['fr', 'de']) {
    it(`${name} has every key of en.default, with the same placeholders`, () => {
      const other = loadLocale(name);
      assert.deepEqual(Object.keys(other).sort(), Object.keys(english).sort());
      for (const [key, text] of Object.entries(english)) {
        if (typeof text === 'object') {
          assert.deepEqual(Object.keys(other[key]).sort(), ['one', 'other'], key);
          assert.deepEqual(placeholders(other[key].other), placeholders(text.other), key);
        } else {
          assert.deepEqual(placeholders(other[key]), placeholders(text), key);
        }
      }
    });
  }

  it('every key the code uses exists', () => {
    const lib = new URL('src/lib/', root);
    const source = readdirSync(lib).map((f) => readFileSync(new URL(f, lib), 'utf8')).join('\n');
    const used = new Set([...source.matchAll(/\bt\('(\w+)'/g)].map((m) => m[1]));
    for (const notice of ['chooseScore', 'commentTooLong', 'rejected']) used.add(notice); // t(state.notice)
    assert.ok(used.size > 10, `found ${used.size} keys`);
    for (const key of used) assert.ok(key in english, `${key} is translated`);
  });
});
