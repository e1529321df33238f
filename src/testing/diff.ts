import { diffLines } from 'diff';

/**
 * Expected against actual, as sorted pretty JSON with `-`/`+` lines.
 *
 * @example
 * lineDiff({ a: 1 }, { a: 2 }); // '  {\n-   "a": 1\n+   "a": 2\n  }'
 */
export function lineDiff(expected: unknown, actual: unknown): string {
  const parts = diffLines(pretty(expected), pretty(actual));
  return parts
    .flatMap((p) =>
      p.value
        .replace(/\n$/, '')
        .split('\n')
        .map((line) => `${p.added ? '+ ' : p.removed ? '- ' : '  '}${line}`),
    )
    .join('\n');
}

function pretty(value: unknown): string {
  if (value === undefined) return '(nothing)\n';
  return `${JSON.stringify(value, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v), 2)}\n`;
}
