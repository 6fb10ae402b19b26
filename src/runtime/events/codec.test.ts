import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeEnvelope, EnvelopeStamper, encodeEnvelope } from './codec.ts';
import { sampleKvEvent, sampleLoad } from './testing/event-bus-kit.ts';

const text = (s: string) => new TextEncoder().encode(s);

describe('event codec', () => {
  it('round-trips a stamped envelope through UTF-8 JSON', () => {
    const stamper = new EnvelopeStamper('worker-1', () => 1_700_000_000_000);
    const envelope = stamper.stamp(
      'namespace.dynamo.component.backend.kv-events',
      'kv-events',
      sampleKvEvent('w', 1),
    );
    const bytes = encodeEnvelope(envelope);
    assert.equal(JSON.parse(new TextDecoder().decode(bytes)).publisher_id, 'worker-1');
    assert.deepEqual(decodeEnvelope('kv-events', bytes), { ok: true, envelope });
  });

  it('numbers envelopes per subject', () => {
    const stamper = new EnvelopeStamper('p');
    const a = 'namespace.n.component.c.kv_metrics';
    const b = 'namespace.n.component.d.kv_metrics';
    const seqs = [a, a, b, a].map((s) => stamper.stamp(s, 'kv_metrics', sampleLoad('w', 1)).sequence);
    assert.deepEqual(seqs, [1, 2, 1, 3]);
  });

  it('rejects, never throws on, every kind of bad message', () => {
    const header = { publisher_id: 'p', sequence: 1, published_at: 1, topic: 'kv_metrics' };
    const cases: [string, Uint8Array][] = [
      ['not UTF-8 JSON', new Uint8Array([0xc3, 0x28])],
      ['not UTF-8 JSON', text('{"publisher_id":')],
      ['not an envelope', text('[1,2,3]')],
      ['not an envelope', text(JSON.stringify({ ...header, sequence: 0, payload: sampleLoad('w', 1) }))],
      ['not an envelope', text(JSON.stringify({ ...header, publisher_id: '', payload: sampleLoad('w', 1) }))],
      ['not an envelope', text(JSON.stringify({ ...header, topic: 'other', payload: {} }))],
      [
        'arrived on the',
        text(JSON.stringify({ ...header, topic: 'kv-events', payload: sampleKvEvent('w', 1) })),
      ],
      [
        'does not match',
        text(JSON.stringify({ ...header, payload: { ...sampleLoad('w', 1), gpuCacheUsagePerc: 2 } })),
      ],
    ];
    for (const [reason, bytes] of cases) {
      const result = decodeEnvelope('kv_metrics', bytes);
      assert.equal(result.ok, false);
      assert.match((result as { reason: string }).reason, new RegExp(reason));
    }
  });

  it('decodes the example message documented in the README', () => {
    const readme = readFileSync(join(fileURLToPath(new URL('.', import.meta.url)), 'README.md'), 'utf8');
    const example = /## Wire format[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(example, 'README.md has a json example under "## Wire format"');
    const result = decodeEnvelope('kv-events', text(example));
    assert.ok(result.ok, `README example must decode: ${JSON.stringify(result)}`);
    assert.equal(result.envelope.payload.event.data.type, 'stored');
  });
});
