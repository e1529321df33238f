import type { PolicyIssue } from '../lib/errors.js';
import { didYouMean } from '../lib/suggest.js';
import type { PolicyDocument } from './schema.js';

/**
 * The HL7 v3 PurposeOfUse codes (value set 2.16.840.1.113883.1.11.20448: the
 * codes under `PurposeOfUse` in the v3 ActReason code system, release
 * 2018-08-12, as the R4 definitions publish it). A policy may declare other
 * codes (a local code system's); `fieldmesh check` warns, since a misspelt
 * `TRAET` would never match a token. test/policy/purpose-of-use.test.ts
 * checks this list against the published definitions.
 */
export const PURPOSE_OF_USE_CODES: ReadonlySet<string> = new Set([
  ...['HMARKT', 'HOPERAT', 'CAREMGT', 'DONAT', 'FRAUD', 'GOV', 'HACCRED', 'HCOMPL', 'HDECD', 'HDIRECT', 'HDM', 'HLEGAL'],
  ...['HOUTCOMS', 'HPRGRP', 'HQUALIMP', 'HSYSADMIN', 'LABELING', 'METAMGT', 'MEMADMIN', 'MILCDM', 'PATADMIN', 'PATSFTY'],
  ...['PERFMSR', 'RECORDMGT', 'SYSDEV', 'HTEST', 'TRAIN', 'HPAYMT', 'CLMATTCH', 'COVAUTH', 'COVERAGE', 'ELIGDTRM', 'ELIGVER'],
  ...['ENROLLM', 'MILDCRG', 'REMITADV', 'HRESCH', 'BIORCH', 'CLINTRCH', 'CLINTRCHNPC', 'CLINTRCHPC', 'PRECLINTRCH', 'DSRCH'],
  ...['POARCH', 'TRANSRCH', 'PATRQT', 'FAMRQT', 'PWATRNY', 'SUPNWK', 'PUBHLTH', 'DISASTER', 'THREAT', 'TREAT', 'CLINTRL'],
  ...['COC', 'ETREAT', 'BTG', 'ERTREAT', 'POPHLTH'],
]);

/**
 * The codes that make a request a break-glass request: emergency treatment
 * (`ETREAT`) and break the glass (`BTG`). Such a request still needs its
 * reason (Caldicott 7), exactly as a break-glass purpose does.
 *
 * @example
 * BREAK_GLASS_CODES.has('ETREAT'); // true
 */
export const BREAK_GLASS_CODES: ReadonlySet<string> = new Set(['ETREAT', 'BTG']);

/**
 * What `fieldmesh check` warns about in the purposes' `purposeOfUse` codes
 * (warnings, not errors: the set still loads and a request is refused, never
 * guessed): a code two purposes declare (a token carrying it selects both,
 * so it is refused as ambiguous), a code repeated within one purpose, a code that is not a v3
 * PurposeOfUse code, and a break-glass code on a purpose that is not
 * break-glass (a token carrying it is always refused for that purpose).
 *
 * @example
 * purposeOfUseIssues(doc); // [{ path: 'purposes.research.purposeOfUse[0]', message: 'code "TREAT" is also declared by …', severity: 'warning' }]
 */
export function purposeOfUseIssues(doc: PolicyDocument): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const byCode = new Map<string, string[]>();
  for (const [name, purpose] of Object.entries(doc.purposes)) {
    for (const code of new Set(purpose.purposeOfUse ?? [])) byCode.set(code, [...(byCode.get(code) ?? []), name]);
  }
  for (const [name, purpose] of Object.entries(doc.purposes)) {
    const warn = (i: number, message: string): void => {
      issues.push({
        file: doc.sources.get(`purposes.${name}`) ?? '(policy set)',
        path: `purposes.${name}.purposeOfUse[${i}]`,
        message,
        severity: 'warning',
      });
    };
    const codes = purpose.purposeOfUse ?? [];
    codes.forEach((code, i) => {
      // A repeat changes nothing a token selects, but is likely a slip for another code: said once, at the repeat.
      const first = codes.indexOf(code);
      if (first !== i) {
        warn(i, `code "${code}" is repeated (first at purposeOfUse[${first}]): declare each code once`);
        return;
      }
      const others = (byCode.get(code) ?? []).filter((p) => p !== name);
      if (others.length > 0)
        warn(
          i,
          `code "${code}" is also declared by purpose ${others.map((p) => `"${p}"`).join(', ')}: a token carrying it selects both, and is refused as ambiguous`,
        );
      if (!PURPOSE_OF_USE_CODES.has(code))
        warn(
          i,
          `"${code}" is not an HL7 v3 PurposeOfUse code${didYouMean(code, PURPOSE_OF_USE_CODES)}: only a token carrying exactly this code selects the purpose`,
        );
      if (BREAK_GLASS_CODES.has(code) && !purpose.breakGlass)
        warn(
          i,
          `"${code}" asks for break-glass access, but this purpose is not break-glass (breakGlass: true): a token carrying it is always refused`,
        );
    });
  }
  return issues;
}
