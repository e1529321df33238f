import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const AUDIT = join(SRC, 'audit');

/** The files a source names in its static `import … from` and `export … from` (type-only ones too): dynamic `import()` is not an edge. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'|^import\s+'([^']+)'/gms)].map(
    (m) => (m[1] ?? m[2]) as string,
  );
  return specifiers.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')));
}

describe('audit/types: the store contract', () => {
  it('keeps the contract apart: types.ts imports nothing but types, and no driver folder', () => {
    const text = readFileSync(join(AUDIT, 'types.ts'), 'utf8');
    const imports = [...text.matchAll(/^import\s.*$/gm)].map((m) => m[0]);
    expect(imports.every((line) => line.startsWith('import type '))).to.equal(true);
    expect(
      staticImports(join(AUDIT, 'open.ts')).filter((f) => f.startsWith(join(AUDIT, 'sqlite')) || f.startsWith(join(AUDIT, 'postgres'))),
    ).to.deep.equal([]);
  });
});
