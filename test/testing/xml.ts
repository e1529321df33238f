/**
 * A small strict reader of the XML the junit reporter writes: elements,
 * double-quoted attributes, the five entities and numeric references, text.
 * Throws on anything else (a raw `<` or `&`, an unclosed or crossed element,
 * a character XML 1.0 forbids), so a test parsing a report fails on a broken one.
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_][\w.-]*/;
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

export function parseXml(xml: string): XmlElement {
  if (FORBIDDEN.test(xml)) throw new Error('a character XML 1.0 forbids');
  let rest = xml.replace(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n/, '');
  const root: XmlElement = { name: '#root', attrs: {}, children: [], text: '' };
  const stack = [root];
  while (rest.length > 0) {
    const top = stack[stack.length - 1]!;
    if (rest.startsWith('</')) {
      const m = /^<\/([A-Za-z_][\w.-]*)>/.exec(rest);
      if (!m || m[1] !== top.name) throw new Error(`unexpected close at ${rest.slice(0, 30)}`);
      stack.pop();
      rest = rest.slice(m[0].length);
    } else if (rest.startsWith('<')) {
      const name = NAME.exec(rest.slice(1));
      if (!name) throw new Error(`bad element at ${rest.slice(0, 30)}`);
      rest = rest.slice(1 + name[0].length);
      const el: XmlElement = { name: name[0], attrs: {}, children: [], text: '' };
      for (;;) {
        const a = /^\s+([A-Za-z_][\w.-]*)="([^"<]*)"/.exec(rest);
        if (!a) break;
        if (a[1]! in el.attrs) throw new Error(`duplicate attribute ${a[1]}`);
        el.attrs[a[1]!] = decode(a[2]!);
        rest = rest.slice(a[0].length);
      }
      const end = /^\s*(\/?)>/.exec(rest);
      if (!end) throw new Error(`bad tag end at ${rest.slice(0, 30)}`);
      rest = rest.slice(end[0].length);
      top.children.push(el);
      if (end[1] !== '/') stack.push(el);
    } else {
      const i = rest.indexOf('<');
      const chunk = i < 0 ? rest : rest.slice(0, i);
      top.text += decode(chunk);
      rest = i < 0 ? '' : rest.slice(i);
    }
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  const elements = root.children;
  if (elements.length !== 1 || root.text.trim() !== '') throw new Error('not exactly one root element');
  return elements[0]!;
}

function decode(text: string): string {
  return text.replace(/&[^;]*;|&/g, (ref) => {
    const named: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&apos;': "'" };
    if (named[ref] !== undefined) return named[ref];
    const n = /^&#(\d+);$/.exec(ref);
    if (n) return String.fromCodePoint(Number(n[1]));
    throw new Error(`bad reference ${ref}`);
  });
}
