import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidRequestError } from './errors.ts';
import { describeLink, parseLinkSpec, transferMs } from './link-spec.ts';

describe('parseLinkSpec', () => {
  it('reads tc-style bandwidth and latency', () => {
    assert.deepEqual(parseLinkSpec('25gbit,10us'), { bytesPerSecond: 25e9 / 8, latencyMs: 0.01 });
    assert.deepEqual(parseLinkSpec('400gbps,2ms'), { bytesPerSecond: 400e9, latencyMs: 2 });
    assert.deepEqual(parseLinkSpec('100mbit'), { bytesPerSecond: 100e6 / 8, latencyMs: 0 });
    assert.equal(parseLinkSpec('1.5Gbit,500ns').latencyMs, 0.0005);
  });

  it('refuses what it cannot read, naming the form', () => {
    for (const bad of ['', 'fast', '25gbit,10', '25,10us', '25gbit,10us,1', '0gbit']) {
      assert.throws(() => parseLinkSpec(bad), InvalidRequestError, bad);
    }
    assert.throws(() => parseLinkSpec('25gb'), /bit, kbit, mbit, gbit/);
  });
});

describe('transferMs', () => {
  it('charges latency plus bytes over bandwidth', () => {
    const link = parseLinkSpec('8gbit,10us'); // 1e9 bytes/s
    assert.equal(transferMs(link, 0), 0.01);
    assert.ok(Math.abs(transferMs(link, 1e9) - 1000.01) < 1e-9);
    assert.equal(describeLink(link), '8 Gbit/s, 10 µs');
  });
});
