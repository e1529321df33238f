import { hasEdgeWhitespace } from './text.js';

/**
 * Secret keys given by configuration (the pseudonym key, the audit
 * record-id key, the audit chain key): one rule for all of them, asked by
 * the middleware, the gateway, the CLI and the audit stores alike, so a key
 * one entry point accepts none refuses, and the same text is the same key
 * everywhere.
 */

/** Fewest characters (bytes for a Buffer) of a key: a short key could be guessed, and every pseudonym or hash made with it forged or reversed. */
export const KEY_MIN_LENGTH = 16;

/**
 * What is wrong with a key, or `undefined`. Surrounding whitespace is refused
 * rather than trimmed: one entry point trimming and another not would turn
 * the same configured text into two keys, and two sets of pseudonyms.
 *
 * @example
 * keyProblem('short');                      // 'must be at least 16 characters'
 * keyProblem(' a-key-of-sixteen-chars ');   // 'must not begin or end with whitespace …'
 * keyProblem('a-key-of-sixteen-chars');     // undefined
 */
export function keyProblem(key: unknown): string | undefined {
  if (!(typeof key === 'string' || Buffer.isBuffer(key))) return 'must be a string or a Buffer';
  if (typeof key === 'string' && hasEdgeWhitespace(key)) return 'must not begin or end with whitespace (it would count as part of the key)';
  if (key.length < KEY_MIN_LENGTH) return `must be at least ${KEY_MIN_LENGTH} characters`;
  return undefined;
}

/**
 * The key, or a TypeError naming the option: misuse said when a store or
 * middleware is created, not at the first request.
 *
 * @example
 * checkedKey('openAuditStore: recordIdKey', process.env.FIELDMESH_AUDIT_RECORD_KEY); // the key, or undefined
 */
export function checkedKey(name: string, key: string | Buffer | undefined): string | Buffer | undefined {
  if (key === undefined) return undefined;
  const problem = keyProblem(key);
  if (problem !== undefined) throw new TypeError(`${name} ${problem}`);
  return key;
}
