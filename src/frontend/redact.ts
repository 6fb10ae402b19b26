/**
 * Scrub internal details out of a message bound for an HTTP client: worker addresses (IPv4/IPv6/host with
 * a port, `unix:` socket paths), absolute file paths and file:// URLs. Like a web server's `ServerTokens Prod` plus a generic
 * error page: the operator's log keeps the full message (under the same request id), the client learns
 * what failed, not where.
 */
const REPLACEMENTS: [RegExp, string][] = [
  [/file:\/\/\S+/g, '<path>'],
  [/\bunix:\/\S+/g, '<address>'],
  [/\[[0-9A-Fa-f:.]+\](?::\d{1,5})?/g, '<address>'],
  [/\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b/g, '<address>'],
  [/\b(?:localhost|[A-Za-z][\w-]*(?:\.[\w-]+)+):\d{1,5}\b/g, '<address>'],
  [/(^|[\s'"(=,])(?!\/v1\/)(?:\/[\w.@+-]+){2,}\/?/g, '$1<path>'],
];

export function redactInternals(message: string): string {
  let out = message;
  for (const [pattern, replacement] of REPLACEMENTS) out = out.replace(pattern, replacement);
  return out;
}
