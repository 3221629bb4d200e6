// The extension's configuration agrees with its code.

import assert from 'node:assert/strict';
import {existsSync, readFileSync} from 'node:fs';
import {describe, it} from 'node:test';

const root = new URL('../', import.meta.url);
const toml = readFileSync(new URL('shopify.extension.toml', root), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));

describe('shopify.extension.toml', () => {
  it('is a UI extension with network access on the version of its @shopify/ui-extensions', () => {
    assert.match(toml, /^type = "ui_extension"$/m);
    assert.match(toml, /^network_access = true$/m);
    const [, year, month] = pkg.dependencies['@shopify/ui-extensions'].match(/^(\d{4})\.(\d{1,2})\./);
    assert.match(toml, new RegExp(`^api_version = "${year}-${month.padStart(2, '0')}"$`, 'm'));
  });

  it('has the full-page target alone, with its module, under the handle the profile block links to', async () => {
    const targets = [...toml.matchAll(/^target = "([^"]+)"$/gm)].map((m) => m[1]);
    assert.deepEqual(targets, ['customer-account.page.render']);
    const module = toml.match(/^module = "([^"]+)"$/m)[1];
    assert.ok(existsSync(new URL(module, root)));
    const {REWARDS_PAGE_URL} = await import('../../points-checkout/src/lib/host.js');
    const handle = toml.match(/^handle = "([^"]+)"$/m)[1];
    assert.equal(REWARDS_PAGE_URL, `extension://${handle}`);
  });
});
