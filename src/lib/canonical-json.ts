/**
 * JSON with object keys sorted and undefined members left out, so the same
 * value always serialises to the same bytes: an audit event whichever store
 * read it back (its hash depends on it), a policy set whatever order its
 * files listed their keys in (its version depends on it). Changing a byte of
 * the output would break the verification of every existing trail.
 *
 * @example
 * canonicalJson({ b: 1, a: [true, 'x'], c: undefined }); // '{"a":[true,"x"],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  // Written into one list of parts joined once, with each key quoted once: the
  // policy version serialises every grant of a set (200k at 1,000 roles),
  // where nested joins and concatenations made most of the time and garbage.
  // The bytes are those of the plain definition (test/lib/canonical-json.test.ts
  // compares the two).
  const parts: string[] = [];
  write(value, parts, new Map());
  return parts.join('');
}

function write(value: unknown, parts: string[], quoted: Map<string, string>): void {
  if (Array.isArray(value)) {
    parts.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) parts.push(',');
      // A hole is left empty, as Array.prototype.map and join leave it.
      if (!(i in value)) continue;
      if (value[i] === undefined) parts.push('null');
      else write(value[i], parts, quoted);
    }
    parts.push(']');
    return;
  }
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).sort();
    let first = true;
    parts.push('{');
    for (const k of keys) {
      const v = obj[k];
      if (v === undefined) continue;
      if (!first) parts.push(',');
      first = false;
      let key = quoted.get(k);
      if (key === undefined) quoted.set(k, (key = `${JSON.stringify(k)}:`));
      parts.push(key);
      write(v, parts, quoted);
    }
    parts.push('}');
    return;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
  parts.push(JSON.stringify(value) ?? 'null');
}
