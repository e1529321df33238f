/**
 * `fieldmesh/testing`: the fixture-case runner behind `fieldmesh test`, to
 * check a policy set against expected answers from your own test suite
 * (docs/testing.md).
 *
 * @example
 * import { loadPolicies } from 'fieldmesh';
 * import { loadRecords, parseCaseFile, runCase } from 'fieldmesh/testing';
 * const file = parseCaseFile(await readFile('cases/nurse.yaml', 'utf8'), 'cases/nurse.yaml');
 * const records = await loadRecords('./fixtures');
 * for (const c of file.cases) console.log(runCase(policies, records, file, c, 'cases/nurse.yaml'));
 */
export { caseSchema, caseFileSchema, kindOf, loadRecords, parseCaseFile, runCase, evaluateCase, lineDiff } from './cases.js';
export type { FixtureCase, CaseFile, CaseKind, CaseResult, Observed, RecordStore } from './cases.js';
export { compareOutput, matcherOf } from './matchers.js';
export type { Compared, Matcher, MatchContext } from './matchers.js';
export { fieldProblems } from './field-expectations.js';
export type { FieldExpectations } from './field-expectations.js';
export { caseFilter } from './select.js';
export { REPORTERS, jsonReport, junitReport, summaryOf } from './reporters.js';
export type { ReportedCase, ReporterName, Summary } from './reporters.js';
export { applyUpdates, planUpdate } from './update.js';
export type { PairEdit, UpdatePlan } from './update.js';
export { coverageOf, formatCoverage, meetsThreshold } from './coverage.js';
export type { Coverage, CoverageGap, CoverageKind, CoveredResult } from './coverage.js';
export type { FieldsSeen } from './fields-seen.js';
export { fieldmeshChai } from './chai.js';
export type { PseudonymOptions } from './chai.js';
export { runCases, CaseFailure } from './run-cases.js';
export type { RunCasesOptions, CaseRun, DescribeFunction, ItFunction } from './run-cases.js';
