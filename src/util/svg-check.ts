/**
 * A minimal well-formedness check for the SVG files benchmarks write: balanced tags, quoted attributes,
 * escaped text, an `<svg xmlns=...>` root, and no NaN/undefined leaking into coordinates. Not a validating
 * XML parser — a smoke detector, like `nginx -t` for a config: it catches the mistakes a chart writer makes.
 */

const TAG = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[A-Za-z_:][\w:.-]*="[^"<]*")*)\s*(\/?)>/y;
const BAD_ENTITY = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;
const BAD_VALUE = /="[^"]*\b(?:NaN|undefined|Infinity|null)\b[^"]*"/;

/** Problems found in `svg` (empty when it looks well-formed). */
export function svgProblems(svg: string): string[] {
  const problems: string[] = [];
  const text = svg.replace(/^\s*<\?xml[^>]*\?>/, '').replace(/<!--[\s\S]*?-->/g, '');
  const stack: string[] = [];
  let roots = 0;
  let pos = 0;
  while (pos < text.length) {
    const lt = text.indexOf('<', pos);
    const chunk = text.slice(pos, lt < 0 ? text.length : lt);
    if (BAD_ENTITY.test(chunk)) problems.push(`unescaped '&' in text near offset ${pos}`);
    if (stack.length === 0 && chunk.trim() !== '') problems.push(`text outside the root element at ${pos}`);
    if (lt < 0) break;
    TAG.lastIndex = lt;
    const m = TAG.exec(text);
    if (!m) {
      problems.push(`malformed tag at offset ${lt}: ${text.slice(lt, lt + 40)}`);
      break;
    }
    const [whole, closing, name, attrs, selfClosing] = m;
    if (BAD_VALUE.test(attrs ?? '')) problems.push(`attribute with a non-number value in <${name}>`);
    if (closing) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open ?? 'nothing'}>`);
    } else {
      if (stack.length === 0) {
        roots++;
        if (name !== 'svg') problems.push(`root element is <${name}>, expected <svg>`);
        if (!/\sxmlns="http:\/\/www\.w3\.org\/2000\/svg"/.test(attrs ?? ''))
          problems.push('root lacks xmlns');
      }
      if (!selfClosing) stack.push(name!);
    }
    pos = lt + whole.length;
  }
  if (stack.length > 0) problems.push(`unclosed elements: ${stack.join(' > ')}`);
  if (roots !== 1) problems.push(`expected one root element, found ${roots}`);
  return problems;
}
