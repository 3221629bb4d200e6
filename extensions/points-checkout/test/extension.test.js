// The extension's configuration agrees with its code: each target named in
// shopify.extension.toml has its module, and that module renders for it.

import assert from 'node:assert/strict';
import {existsSync, readFileSync} from 'node:fs';
import {describe, it} from 'node:test';

import {CHECKOUT_TARGET, ORDER_STATUS_TARGET, PROFILE_TARGET, THANK_YOU_TARGET} from '../src/lib/host.js';

const root = new URL('../', import.meta.url);
const toml = readFileSync(new URL('shopify.extension.toml', root), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));

describe('shopify.extension.toml', () => {
  it('is a UI extension with network access', () => {
    assert.match(toml, /^type = "ui_extension"$/m);
    assert.match(toml, /^\[extensions\.capabilities\]$/m);
    assert.match(toml, /^api_access = true$/m);
    assert.match(toml, /^network_access = true$/m);
  });

  it('uses the API version of the @shopify/ui-extensions it depends on', () => {
    const [, year, month] = pkg.dependencies['@shopify/ui-extensions'].match(/^(\d{4})\.(\d{1,2})\./);
    assert.match(toml, new RegExp(`^api_version = "${year}-${month.padStart(2, '0')}"$`, 'm'));
  });

  it('targets checkout, thank-you, order status and profile, each with an existing module', () => {
    const blocks = [...toml.matchAll(/\[\[extensions\.targeting\]\]\s*\nmodule = "([^"]+)"\s*\ntarget = "([^"]+)"/g)];
    const targets = Object.fromEntries(blocks.map((m) => [m[2], m[1]]));
    assert.deepEqual(Object.keys(targets).sort(), [CHECKOUT_TARGET, ORDER_STATUS_TARGET, PROFILE_TARGET, THANK_YOU_TARGET].sort());
    for (const [target, module] of Object.entries(targets)) {
      const file = new URL(module, root);
      assert.ok(existsSync(file), `${module} exists`);
      const source = readFileSync(file, 'utf8');
      assert.match(source, /import '@shopify\/ui-extensions\/preact';/);
      assert.ok(source.includes(`renderPointsBlock('${target}')`), `${module} renders for ${target}`);
    }
  });
});
