/**
 * The length and time distributions of generated traces, written the way a traffic generator's config
 * names them (`--isl lognormal:12000,1.2`), parsed once at the edge and sampled with a seeded `Rng`.
 *
 *   N | fixed:N            always N
 *   exp:MEAN               exponential (memoryless: think times, inter-arrival gaps)
 *   lognormal:MEAN,CV      lognormal with that mean and coefficient of variation (stddev ÷ mean): request
 *                          lengths are right-skewed, most short, a few very long, as in the Mooncake traces
 *   uniform:MIN,MAX        uniform over [MIN, MAX]
 *
 * Parameters are the distribution's *mean* (not the log-space μ), so a default reads as the statistic it
 * was chosen to match.
 */
import type { Rng } from '../util/prng.ts';
import { ReplayConfigError } from './errors.ts';

export type Distribution =
  | { kind: 'fixed'; value: number }
  | { kind: 'exp'; mean: number }
  | { kind: 'lognormal'; mean: number; cv: number }
  | { kind: 'uniform'; min: number; max: number };

/** The distribution's mean (what the docs and the tests compare generated samples with). */
export function distributionMean(d: Distribution): number {
  switch (d.kind) {
    case 'fixed':
      return d.value;
    case 'exp':
    case 'lognormal':
      return d.mean;
    case 'uniform':
      return (d.min + d.max) / 2;
  }
}

/** One draw (a real number ≥ 0). */
export function sample(d: Distribution, rng: Rng): number {
  switch (d.kind) {
    case 'fixed':
      return d.value;
    case 'exp':
      return -Math.log(1 - rng.nextFloat()) * d.mean;
    case 'lognormal': {
      // Mean m and CV c ⇒ σ² = ln(1 + c²), μ = ln m − σ²/2 (so that E[X] = e^{μ+σ²/2} = m).
      const sigma2 = Math.log(1 + d.cv * d.cv);
      const mu = Math.log(d.mean) - sigma2 / 2;
      return Math.exp(mu + Math.sqrt(sigma2) * standardNormal(rng));
    }
    case 'uniform':
      return d.min + (d.max - d.min) * rng.nextFloat();
  }
}

/** A draw rounded to an integer count of at least `min` (token counts). */
export function sampleCount(d: Distribution, rng: Rng, min = 1): number {
  return Math.max(min, Math.round(sample(d, rng)));
}

/** Box–Muller: one N(0, 1) draw from two uniforms (the second normal is dropped: simpler, still seeded). */
function standardNormal(rng: Rng): number {
  const u1 = 1 - rng.nextFloat(); // (0, 1]: log(0) never happens
  const u2 = rng.nextFloat();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** Parse `N`, `fixed:N`, `exp:MEAN`, `lognormal:MEAN,CV` or `uniform:MIN,MAX`; `flag` names it in errors. */
export function parseDistribution(spec: string, flag: string): Distribution {
  const fail = (why: string): never => {
    throw new ReplayConfigError(
      `--${flag} ${JSON.stringify(spec)}: ${why}; use N, fixed:N, exp:MEAN, lognormal:MEAN,CV or uniform:MIN,MAX`,
    );
  };
  const [name, rest] = spec.includes(':') ? spec.split(':', 2) : ['fixed', spec];
  const args = (rest ?? '').split(',').map((a) => Number(a.trim()));
  if (args.some((a) => !Number.isFinite(a) || a < 0)) fail('parameters must be numbers ≥ 0');
  const want = (n: number) => {
    if (args.length !== n) fail(`${name} takes ${n} parameter${n === 1 ? '' : 's'}`);
  };
  switch (name) {
    case 'fixed':
      want(1);
      return { kind: 'fixed', value: args[0]! };
    case 'exp':
      want(1);
      return { kind: 'exp', mean: args[0]! };
    case 'lognormal':
      want(2);
      if (args[0]! <= 0) fail('the mean must be > 0');
      return { kind: 'lognormal', mean: args[0]!, cv: args[1]! };
    case 'uniform':
      want(2);
      if (args[1]! < args[0]!) fail('MAX must be ≥ MIN');
      return { kind: 'uniform', min: args[0]!, max: args[1]! };
    default:
      return fail(`unknown distribution "${name}"`);
  }
}

/** The spec text back (for reports and the reproducing command line). */
export function formatDistribution(d: Distribution): string {
  switch (d.kind) {
    case 'fixed':
      return String(d.value);
    case 'exp':
      return `exp:${d.mean}`;
    case 'lognormal':
      return `lognormal:${d.mean},${d.cv}`;
    case 'uniform':
      return `uniform:${d.min},${d.max}`;
  }
}
