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
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
  return JSON.stringify(value) ?? 'null';
}
