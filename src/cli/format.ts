/** Human-readable numbers for CLI output; they live in util/format.ts (labs use them too). */
export { formatBytes, formatMs } from '../util/format.ts';
