/**
 * Which cases a run takes (`fieldmesh test --filter PATTERN`,
 * docs/testing.md "Choosing cases"): those whose `file › name` contains
 * PATTERN, or matches it when it is written `/regex/flags`.
 */

/**
 * A predicate on `file › name`; throws a TypeError naming the pattern when a
 * `/regex/` is not a valid regular expression (or is empty).
 *
 * @example
 * caseFilter('receptionist')('fixtures/cases/administration.yaml', 'a receptionist sees …'); // true
 * caseFilter('/sealed|dv-/i');
 */
export function caseFilter(pattern: string): (file: string, name: string) => boolean {
  if (pattern === '') throw new TypeError('--filter: the pattern is empty');
  const regex = /^\/(.+)\/([a-z]*)$/.exec(pattern);
  if (regex === null) return (file, name) => `${file} › ${name}`.includes(pattern);
  // g and y make test() remember where it stopped: a filter must answer the same for the same name.
  if (!/^[imsu]*$/.test(regex[2]!)) throw new TypeError(`--filter: ${pattern}: a /regex/ takes the flags i, m, s and u only`);
  let re: RegExp;
  try {
    re = new RegExp(regex[1]!, regex[2]);
  } catch (e) {
    throw new TypeError(`--filter: ${pattern} is not a valid regular expression (${(e as Error).message})`);
  }
  return (file, name) => re.test(`${file} › ${name}`);
}
