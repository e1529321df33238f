import { AccessError } from '../engine/access-error.js';
import type { CompiledPolicies } from '../engine/compile.js';
import { BREAK_GLASS_CODES } from '../policy/purpose-of-use.js';
import { PURPOSE_OF_USE_CODE } from '../policy/schema.js';
import { claimAt } from './claims.js';

/**
 * The code systems a Coding's PurposeOfUse code may come from: HL7 v3
 * ActReason, by its URL or its OID. A code of any other system is refused:
 * `TREAT` in a local system need not mean treatment.
 */
const ACT_REASON_SYSTEMS: ReadonlySet<string> = new Set([
  'http://terminology.hl7.org/CodeSystem/v3-ActReason',
  'urn:oid:2.16.840.1.113883.5.8',
]);
/** Most codes one claim may carry: a longer list is refused, not read (the caller's token is not a place to store text). */
const MAX_CODES = 16;
/** Most unknown codes a message names: enough to fix the policy or the token. */
const NAMED_CODES = 3;

/**
 * Where a token carries its purpose of use, and the policy set that says
 * which purpose each code selects.
 *
 * @example
 * const config: PurposeOfUseConfig = { claim: 'purpose_of_use', compiled: policies.compiled };
 */
export interface PurposeOfUseConfig {
  /** The claim's name, or a dotted path to a nested claim (`ext.purpose_of_use`), read as the roles claim is (claimAt). */
  claim: string;
  compiled: Pick<CompiledPolicies, 'purposeOfUse' | 'purposes'>;
}

/**
 * The purpose a token's purpose of use selects: the purpose, the codes that
 * selected it (plain codes only: they were checked), and whether a
 * break-glass code (ETREAT, BTG) made the request break-glass.
 */
export interface TokenPurpose {
  purpose: string;
  codes: readonly string[];
  breakGlass: boolean;
}

/**
 * The purpose a verified token's purpose-of-use claim selects (docs/fhir.md,
 * "Purpose of use from the token"), or `undefined` when the token carries no
 * such claim (then `X-Purpose` says it, as without a claim configured). The
 * claim is a PurposeOfUse code (`"TREAT"`), a Coding (`{ system, code }`,
 * system absent or v3 ActReason), or a list of either. Refused, as an
 * AccessError, when no one purpose is selected:
 * - the claim is anything else, or a Coding of another system (`purpose_claim_invalid`);
 * - a code no purpose declares (`purpose_unknown`), or codes that select more than one purpose (`purpose_ambiguous`).
 * A break-glass code selects the purpose that declares it when there is one,
 * whatever the other codes would select (a break-glass request needs its
 * reason and is reviewed); otherwise the other codes select the purpose.
 * Whether the selected purpose may be used is `tokenPurposeRefusal`'s
 * question, asked once the selection is recorded. The messages name the
 * policy's purposes and the token's codes (checked plain codes, at most
 * three), never other claim content.
 *
 * @example
 * purposeFromToken({ purpose_of_use: ['TREAT'] }, { claim: 'purpose_of_use', compiled });
 * // { purpose: 'direct-care', codes: ['TREAT'], breakGlass: false }
 */
export function purposeFromToken(claims: Readonly<Record<string, unknown>>, config: PurposeOfUseConfig): TokenPurpose | undefined {
  const value = claimAt(claims as Record<string, unknown>, config.claim);
  if (value === undefined) return undefined;
  const codes = codesOf(value);
  if (codes === undefined)
    throw new AccessError(
      'purpose_claim_invalid',
      `the token's purpose claim "${config.claim}" must be an HL7 PurposeOfUse code, a Coding of the v3 ActReason system, or a list of at most ${MAX_CODES} of them`,
    );
  const { purposeOfUse } = config.compiled;
  const breakGlassCodes = codes.filter((c) => BREAK_GLASS_CODES.has(c));
  const others = codes.filter((c) => !BREAK_GLASS_CODES.has(c));
  // A code that names no purpose is refused even beside one that does: the token asked for it, and it cannot be honoured.
  const unknown = others.filter((c) => !purposeOfUse.has(c));
  if (unknown.length > 0) throw new AccessError('purpose_unknown', `no purpose answers to the token's purpose of use ${named(unknown)}`);
  const byBreakGlass = breakGlassCodes.flatMap((c) => purposeOfUse.get(c) ?? []);
  const selected = [...new Set(byBreakGlass.length > 0 ? byBreakGlass : others.flatMap((c) => purposeOfUse.get(c) ?? []))];
  if (selected.length === 0) throw new AccessError('purpose_unknown', `no purpose answers to the token's purpose of use ${named(codes)}`);
  if (selected.length > 1)
    throw new AccessError(
      'purpose_ambiguous',
      `the token's purpose of use ${named(codes)} selects more than one purpose (${selected.join(', ')}): a token must name one`,
    );
  return { purpose: selected[0]!, codes, breakGlass: breakGlassCodes.length > 0 };
}

/**
 * Why the purpose a token selected cannot be used, or `undefined`: an
 * `X-Purpose` naming another purpose, or a break-glass code (ETREAT, BTG)
 * beside a purpose that is not break-glass (both `purpose_conflict`). Asked
 * after the selection is recorded, so a refusal's trail, log line and metric
 * name the purpose the token chose, never the header's. A break-glass
 * request without a reason is left to the engine's one rule
 * (`break_glass_required`, the words a break-glass purpose named by
 * `X-Purpose` is refused with): the purpose here is break-glass.
 *
 * @example
 * tokenPurposeRefusal({ purpose: 'direct-care', codes: ['TREAT'], breakGlass: false }, compiled, 'administration');
 * // AccessError purpose_conflict
 */
export function tokenPurposeRefusal(
  selected: TokenPurpose,
  compiled: Pick<CompiledPolicies, 'purposes'>,
  declaredPurpose: string | undefined,
): AccessError | undefined {
  const { purpose, codes } = selected;
  if (declaredPurpose !== undefined && declaredPurpose !== '' && declaredPurpose !== purpose)
    return new AccessError(
      'purpose_conflict',
      `X-Purpose names another purpose than the token's purpose of use ${named(codes)}, which selects "${purpose}": send that one, or no X-Purpose`,
    );
  if (selected.breakGlass && compiled.purposes.get(purpose)?.def.breakGlass !== true)
    return new AccessError(
      'purpose_conflict',
      `the token's purpose of use ${named(codes.filter((c) => BREAK_GLASS_CODES.has(c)))} asks for break-glass access, but selects purpose "${purpose}", which is not break-glass`,
    );
  return undefined;
}

/**
 * The plain codes a claim value carries, each once, or `undefined` when it
 * is not a code, a v3 ActReason Coding, or a non-empty list of at most
 * MAX_CODES of them. Every code is checked against the code shape: only then
 * may a message name it.
 */
function codesOf(value: unknown): string[] | undefined {
  const items = Array.isArray(value) ? value : [value];
  if (items.length === 0 || items.length > MAX_CODES) return undefined;
  const codes = new Set<string>();
  for (const item of items) {
    const code = codeOf(item);
    if (code === undefined) return undefined;
    codes.add(code);
  }
  return [...codes];
}

function codeOf(item: unknown): string | undefined {
  if (typeof item === 'string') return PURPOSE_OF_USE_CODE.test(item) ? item : undefined;
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return undefined;
  const coding = item as Record<string, unknown>;
  const system = Object.hasOwn(coding, 'system') ? coding['system'] : undefined;
  if (system !== undefined && (typeof system !== 'string' || !ACT_REASON_SYSTEMS.has(system))) return undefined;
  const code = Object.hasOwn(coding, 'code') ? coding['code'] : undefined;
  return typeof code === 'string' && PURPOSE_OF_USE_CODE.test(code) ? code : undefined;
}

/** Checked codes as a message names them: `(TREAT, ETREAT)`, at most NAMED_CODES of them. */
function named(codes: readonly string[]): string {
  const shown = codes.slice(0, NAMED_CODES).join(', ');
  return `(${codes.length > NAMED_CODES ? `${shown}, …` : shown})`;
}

/**
 * What is wrong with a purpose claim name in the configuration, or
 * `undefined`: a claim name (a namespaced URL too) or a dotted path to a
 * nested claim, without whitespace or control characters or empty segments
 * (`a..b`, `.a`, `a.`), at most 200 characters. Both shells' options use this rule.
 *
 * @example
 * purposeClaimProblem('purpose_of_use'); // undefined
 * purposeClaimProblem('purpose of use'); // 'must be a claim name or a dotted path, without spaces or control characters'
 */
export function purposeClaimProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return 'must be a claim name, such as purpose_of_use';
  if (name.length > 200) return 'must be at most 200 characters';
  // A namespaced claim (`https://idp.example/purpose`) is a name too: claimAt tries the exact key first.
  if (!/^[^\s\p{Cc}\p{Cf}]+$/u.test(name)) return 'must be a claim name or a dotted path, without spaces or control characters';
  // `a..b`, `.a`, `a.`: a step that names no claim is a typo, and would be read as a name nobody meant.
  if (name.split('.').includes('')) return 'must not have an empty segment (two dots together, or a leading or trailing dot)';
  return undefined;
}
