/**
 * A small strict reader of the Prometheus text exposition format (0.0.4):
 * every sample must belong to a family declared by `# TYPE` before it, with
 * the suffixes its type allows; label values must be quoted and escaped;
 * values must be numbers. Anything else throws, so a test that scrapes
 * proves the scrape is well formed, not just that it contains a string.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  types: Map<string, string>;
  samples: Sample[];
  /** The value of the one sample with this name whose labels include `labels`; summed when several match. */
  value(name: string, labels?: Record<string, string>): number;
  /** Every sample of this name. */
  all(name: string): Sample[];
}

const SUFFIXES: Record<string, string[]> = {
  counter: [''],
  gauge: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
  untyped: [''],
};

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export function parseProm(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  for (const [i, line] of text.slice(0, -1).split('\n').entries()) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      if (!NAME.test(line.slice(7).split(' ')[0] ?? '')) throw new Error(`line ${i + 1}: bad HELP`);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [name = '', type = '', ...rest] = line.slice(7).split(' ');
      if (!NAME.test(name) || SUFFIXES[type] === undefined || rest.length > 0) throw new Error(`line ${i + 1}: bad TYPE: ${line}`);
      if (types.has(name)) throw new Error(`line ${i + 1}: ${name} declared twice`);
      types.set(name, type);
      continue;
    }
    if (line.startsWith('#')) continue;
    samples.push(sample(line, i + 1, types));
  }
  const matching = (name: string, labels: Record<string, string>) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    types,
    samples,
    value(name, labels = {}) {
      const found = matching(name, labels);
      if (found.length === 0) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
      return found.reduce((sum, s) => sum + s.value, 0);
    },
    all: (name) => samples.filter((s) => s.name === name),
  };
}

function sample(line: string, at: number, types: Map<string, string>): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)( \d+)?$/.exec(line);
  if (m === null) throw new Error(`line ${at}: not a sample: ${line}`);
  const [, name = '', rawLabels, rawValue = ''] = m;
  const family = [...types.entries()].find(([f, t]) => (SUFFIXES[t] ?? []).some((s) => `${f}${s}` === name));
  if (family === undefined) throw new Error(`line ${at}: ${name} has no # TYPE before it`);
  const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : rawValue === 'NaN' ? NaN : Number(rawValue);
  if (rawValue === '' || (Number.isNaN(value) && rawValue !== 'NaN')) throw new Error(`line ${at}: bad value ${rawValue}`);
  return { name, labels: rawLabels === undefined ? {} : labelsOf(rawLabels.slice(1, -1), at), value };
}

function labelsOf(text: string, at: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/.exec(rest);
    if (m === null) throw new Error(`line ${at}: bad labels at ${rest}`);
    const [whole, key = '', raw = ''] = m;
    if (Object.hasOwn(labels, key)) throw new Error(`line ${at}: label ${key} twice`);
    labels[key] = raw.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    rest = rest.slice(whole.length);
  }
  return labels;
}
