/**
 * Human-readable numbers for terminal output (CLI commands and labs), like `ls -h`: one spelling of a byte
 * count or a duration everywhere a person reads one.
 */

/** 6144 → "6.00 KiB", 9908624 → "9.45 MiB": three significant digits, binary units. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0
    ? `${bytes} B`
    : `${value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)} ${units[unit]}`;
}

/** 1234.5 → "1235 ms", 12.34 → "12.3 ms", 1.234 → "1.23 ms". */
export function formatMs(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`;
}
