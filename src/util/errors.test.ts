import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DhwError, InvalidRequestError, ModelLoadError, TokenizerError } from './errors.ts';

describe('errors', () => {
  it('every DhwError subclass is named after its class and keeps its cause', () => {
    const cause = new SyntaxError('Unexpected token');
    for (const Class of [DhwError, ModelLoadError, TokenizerError]) {
      const err = new Class('what failed; check this', { cause });
      assert.equal(err.name, Class.name);
      assert.equal(err.cause, cause);
      assert.ok(err instanceof DhwError);
    }
  });

  it('InvalidRequestError carries param, code and cause (the JSON parse error behind a 400)', () => {
    const cause = new SyntaxError('Unexpected end of JSON input');
    const err = new InvalidRequestError('request body is not valid JSON', 'messages', 'bad_json', { cause });
    assert.equal(err.name, 'InvalidRequestError');
    assert.equal(err.param, 'messages');
    assert.equal(err.code, 'bad_json');
    assert.equal(err.cause, cause);
    assert.equal(new InvalidRequestError('no cause').cause, undefined);
  });
});
