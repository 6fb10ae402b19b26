/**
 * Typed, range-checked access to the fields of an untrusted JSON object: every failure is an
 * `InvalidRequestError` naming the field (HTTP 400 `param`). Shared by the OpenAI request validators.
 */
import { InvalidRequestError } from './errors.ts';

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

export interface NumberRule {
  min?: number;
  max?: number;
  /** min itself is not allowed. */
  minExclusive?: boolean;
  integer?: boolean;
}

function ruleText(rule: NumberRule): string {
  const kind = rule.integer ? 'an integer' : 'a number';
  const low = rule.min === undefined ? '' : rule.minExclusive ? `> ${rule.min}` : `>= ${rule.min}`;
  const high = rule.max === undefined ? '' : `<= ${rule.max}`;
  const range = [low, high].filter(Boolean).join(' and ');
  return range ? `${kind} ${range}` : kind;
}

function inRange(value: number, rule: NumberRule): boolean {
  if (!Number.isFinite(value)) return false;
  if (rule.integer && !Number.isSafeInteger(value)) return false;
  if (rule.min !== undefined && (rule.minExclusive ? value <= rule.min : value < rule.min)) return false;
  if (rule.max !== undefined && value > rule.max) return false;
  return true;
}

/** Typed, range-checked access to the fields of one JSON object; every failure names its field. */
export class FieldReader {
  /** `prefix` names nested objects in errors: `stream_options.` → `'stream_options.include_usage'`. */
  constructor(
    private readonly body: JsonObject,
    private readonly prefix = '',
  ) {}

  /** The field's full name, as errors give it. */
  name(key: string): string {
    return `${this.prefix}${key}`;
  }

  /** Field names present (not null). */
  keys(): string[] {
    return Object.keys(this.body).filter((k) => this.body[k] !== null && this.body[k] !== undefined);
  }

  raw(key: string): unknown {
    const value = this.body[key];
    return value === null ? undefined : value;
  }

  string(key: string): string | undefined {
    const value = this.raw(key);
    if (value === undefined || typeof value === 'string') return value;
    throw new InvalidRequestError(
      `'${this.name(key)}' must be a string (got ${describe(value)})`,
      this.name(key),
    );
  }

  boolean(key: string): boolean | undefined {
    const value = this.raw(key);
    if (value === undefined || typeof value === 'boolean') return value;
    throw new InvalidRequestError(
      `'${this.name(key)}' must be true or false (got ${describe(value)})`,
      this.name(key),
    );
  }

  number(key: string, rule: NumberRule = {}): number | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value === 'number' && inRange(value, rule)) return value;
    throw new InvalidRequestError(
      `'${this.name(key)}' must be ${ruleText(rule)} (got ${describe(value)})`,
      this.name(key),
    );
  }

  object(key: string): JsonObject | undefined {
    const value = this.raw(key);
    if (value === undefined || isObject(value)) return value;
    throw new InvalidRequestError(
      `'${this.name(key)}' must be an object (got ${describe(value)})`,
      this.name(key),
    );
  }

  array(key: string): unknown[] | undefined {
    const value = this.raw(key);
    if (value === undefined || Array.isArray(value)) return value;
    throw new InvalidRequestError(
      `'${this.name(key)}' must be an array (got ${describe(value)})`,
      this.name(key),
    );
  }

  /** A nested object's reader (absent → undefined). */
  nested(key: string): FieldReader | undefined {
    const value = this.object(key);
    return value === undefined ? undefined : new FieldReader(value, `${this.name(key)}.`);
  }

  tokenIds(key: string): number[] | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (isTokenIdArray(value)) return value;
    throw new InvalidRequestError(
      `'${this.name(key)}' must be an array of token ids (integers >= 0)`,
      this.name(key),
    );
  }
}

export function isTokenIdArray(value: unknown): value is number[] {
  return (
    Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)
  );
}
