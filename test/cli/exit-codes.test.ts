import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { openAuditStore } from '../../src/audit/open.js';
import type { AuditStoreOptions } from '../../src/audit/types.js';
import { breakGlassEntry, sampleEntry } from '../audit/entries.js';
import { BIN, fieldmeshAsync, ROOT, startFieldmesh, type Run } from './run.js';

/**
 * Every exit code docs/cli.md documents, for every command, from the built
 * binary a user runs. `{name}` in an argument stands for a file or value made
 * in `before` (see `setup`).
 */
interface Row {
  args: string[];
  code: 0 | 1 | 2 | 3;
  /** What the code means for this row. */
  why: string;
  input?: string;
  env?: Record<string, string>;
  stdout?: RegExp;
  stderr?: RegExp;
  /**
   * A server: once stdout holds `after` (and, with `probe`, once the gateway
   * that line names has answered /healthz), send `signal`, then expect the code.
   */
  stop?: { after: string; signal: NodeJS.Signals; probe?: true };
  /** Run a copy of the built binary inside this package root instead (a `{name}`). */
  root?: string;
}

const VALID = 'test/fixtures/policies/valid';
const NOW = ['--now', '2026-11-24'];
const RECORD = JSON.stringify({ id: 'p1', name: 'Ann', nhsNumber: '9990000018', diagnoses: ['J45'] });
const GATEWAY_ENV = { FIELDMESH_JWT_SECRET: 'exit-code-test-secret-of-at-least-32-bytes', FIELDMESH_PSEUDONYM_KEY: 'exit-code-test-key' };
const ROUTES = 'examples/gateway/routes.yaml';
const UNREACHABLE_PG = 'postgres://postgres@127.0.0.1:1/x';
const UNKNOWN_EVENT = '00000000-0000-4000-8000-000000000000';
const redact = (...args: string[]) => ['redact', ...args, '--resource', 'Patient', '-'];

const ROWS: Row[] = [
  { args: [], code: 2, why: 'no command', stderr: /Usage: fieldmesh/ },
  { args: ['--help'], code: 0, why: 'help', stdout: /Usage: fieldmesh/ },
  { args: ['--version'], code: 0, why: 'version', stdout: /^0\.1\.0$/m },
  { args: ['frobnicate'], code: 2, why: 'unknown command', stderr: /unknown command 'frobnicate'/ },
  { args: ['--frobnicate'], code: 2, why: 'unknown option', stderr: /unknown option '--frobnicate'/ },
  { args: ['audit'], code: 2, why: 'audit needs a subcommand', stderr: /Usage: fieldmesh audit/ },
  { args: ['audit', 'frobnicate'], code: 2, why: 'unknown audit subcommand', stderr: /unknown command 'frobnicate'/ },

  { args: ['check', '--policies', VALID, ...NOW], code: 0, why: 'valid, one warning', stdout: /^OK .*1 warning$/m },
  { args: ['check', '--policies', VALID, ...NOW, '--strict'], code: 1, why: 'a warning with --strict', stdout: /^FAIL /m },
  { args: ['check', '--policies', '{invalid}'], code: 1, why: 'policy errors', stdout: /unknown purpose "dirct-care"/ },
  { args: ['check', '--policies', '{tmp}/no-such-dir'], code: 1, why: 'no policy directory', stdout: /no such policy directory/ },
  { args: ['check', '--policies', VALID, '--now', 'someday'], code: 2, why: 'a bad --now', stderr: /--now: "someday" is not a date/ },
  { args: ['check', '--frobnicate'], code: 2, why: 'unknown option', stderr: /unknown option/ },
  { args: ['diff', 'policies', 'policies', ...NOW], code: 0, why: 'no change', stdout: /No change in what the policies disclose/ },
  { args: ['diff', 'policies', '{widened}', ...NOW], code: 1, why: 'access widens', stdout: /^Access widens: /m },
  { args: ['diff', 'policies', '{widened}', ...NOW, '--allow-widening'], code: 0, why: 'widens, allowed', stdout: /^Access widens: /m },
  { args: ['diff', 'policies', '{invalid}', ...NOW], code: 2, why: 'NEW has errors', stderr: /NEW policy set .* cannot be loaded/ },
  { args: ['diff', 'policies', '{tmp}/no-such-dir'], code: 2, why: 'no such directory', stderr: /no such policy directory/ },
  {
    args: ['diff', 'policies', 'policies', '--format', 'xml'],
    code: 2,
    why: 'unknown format',
    stderr: /'--format <format>' argument 'xml' is invalid/,
  },
  { args: ['diff', '--git', 'no-such-revision'], code: 2, why: 'no such revision', stderr: /--git: no revision "no-such-revision"/ },

  {
    args: redact('--role', 'receptionist', '--purpose', 'administration'),
    input: RECORD,
    code: 0,
    why: 'disclosed',
    stdout: /"nhsNumber": "\*{6}0018"/,
  },
  {
    args: redact('--role', 'receptionist', '--purpose', 'direct-care'),
    input: RECORD,
    code: 3,
    why: 'refused',
    stderr: /^\{"error":\{"code":"purpose_not_granted"/,
  },
  {
    args: redact('--user', '{unknownRoleClaims}', '--purpose', 'administration'),
    input: RECORD,
    code: 3,
    why: 'roles in a claims file are data: refused',
    stderr: /"code":"purpose_not_granted"/,
  },
  {
    args: redact('--policies', '{invalid}', '--role', 'nurse', '--purpose', 'direct-care'),
    input: RECORD,
    code: 1,
    why: 'policy errors',
    stderr: /unknown purpose "dirct-care"/,
  },
  {
    args: ['redact', '--role', 'receptionist', '--purpose', 'administration', '--resource', 'Patint', '-'],
    input: RECORD,
    code: 2,
    why: 'unknown resource',
    stderr: /^unknown resource "Patint" \(did you mean "Patient"\?\)$/m,
  },
  {
    args: redact('--role', 'receptionist', '--purpose', 'adminstration'),
    input: RECORD,
    code: 3,
    why: 'unknown purpose (refused as over HTTP)',
    stderr: /"code":"purpose_unknown".*did you mean \\"administration\\"/,
  },
  {
    args: redact('--role', 'recepshionist', '--purpose', 'administration'),
    input: RECORD,
    code: 2,
    why: 'unknown role',
    stderr: /^unknown role "recepshionist"/m,
  },
  {
    args: redact('--purpose', 'administration'),
    input: RECORD,
    code: 2,
    why: 'neither --role nor --user',
    stderr: /give exactly one of --role or --user/,
  },
  {
    args: ['redact', '--role', 'receptionist', '--resource', 'Patient', '-'],
    input: RECORD,
    code: 2,
    why: 'no --purpose',
    stderr: /required option '--purpose <purpose>' not specified/,
  },
  {
    args: redact('--role', 'receptionist', '--purpose', 'administration'),
    input: '{"nhsNumber": "9990000018", oops',
    code: 2,
    why: 'input not JSON',
    stderr: /input \(stdin\) is not valid JSON/,
  },
  {
    args: redact('--role', 'receptionist', '--purpose', 'administration'),
    input: '42',
    code: 2,
    why: 'input neither record nor list',
    stderr: /neither a record/,
  },
  {
    args: ['redact', '--role', 'receptionist', '--purpose', 'administration', '--resource', 'Patient', '{tmp}/no-such.json'],
    code: 2,
    why: 'input unreadable',
    stderr: /cannot read input .*no-such\.json: ENOENT/,
  },
  {
    args: redact('--policies', VALID, '--role', 'analyst', '--purpose', 'service-planning', ...NOW),
    input: RECORD,
    code: 2,
    why: 'no pseudonym key configured',
    stderr: /^FIELDMESH_PSEUDONYM_KEY: required, since purpose "service-planning" pseudonymises fields/m,
  },
  {
    args: redact('--role', 'receptionist', '--purpose', 'administration', '--break-glass', 'line one\nline two of it'),
    input: RECORD,
    code: 3,
    why: 'a reason with a control character',
    stderr: /"code":"break_glass_malformed"/,
  },

  {
    args: ['explain', '--role', 'receptionist', '--purpose', 'administration', '--resource', 'Patient'],
    code: 0,
    why: 'explained',
    stdout: /^nhsNumber\s+identifier\s+transformed \(mask\)/m,
  },
  {
    args: ['explain', '--policies', '{invalid}', '--role', 'nurse', '--purpose', 'direct-care', '--resource', 'Patient'],
    code: 1,
    why: 'policy errors',
    stderr: /unknown purpose "dirct-care"/,
  },
  {
    args: ['explain', '--role', 'recepshionist', '--purpose', 'administration', '--resource', 'Patient'],
    code: 2,
    why: 'unknown role',
    stderr: /unknown role "recepshionist"/,
  },
  {
    args: ['explain', '--role', 'receptionist', '--purpose', 'administration'],
    code: 2,
    why: 'no --resource',
    stderr: /required option '--resource <resource>'/,
  },

  { args: ['test', 'fixtures/cases/administration.yaml'], code: 0, why: 'every case passed', stdout: /^\d+ passed, 0 failed$/m },
  { args: ['test', '--policies', VALID, '{failingCase}'], code: 1, why: 'a case failed', stdout: /^0 passed, 1 failed$/m },
  {
    args: ['test', '--policies', '{invalid}', 'fixtures/cases/administration.yaml'],
    code: 1,
    why: 'policy errors',
    stderr: /unknown purpose "dirct-care"/,
  },
  { args: ['test', '{tmp}/no-such-cases'], code: 2, why: 'no such path', stderr: /no such case file or directory/ },
  { args: ['test', '{emptyDir}'], code: 2, why: 'no case files', stderr: /no case files found/ },
  {
    args: ['test', 'fixtures/cases/administration.yaml', '--records', '{badRecords}'],
    code: 2,
    why: 'records not JSON',
    stderr: /Patient\.json is not valid JSON/,
  },
  {
    args: ['test', 'fixtures/cases/administration.yaml', '--records', '{tmp}/no-such-records'],
    code: 2,
    why: 'no such records directory',
    stderr: /^cannot read --records directory .*no-such-records: ENOENT/m,
  },
  {
    args: ['test', '--policies', VALID, '{badNowCase}'],
    code: 1,
    why: 'a case file whose now is not a date',
    stdout: /now: an ISO date or timestamp[\s\S]*^0 passed, 1 failed$/m,
  },
  {
    args: ['test', 'fixtures/cases/administration.yaml', '--coverage-threshold', '100'],
    code: 1,
    why: 'coverage below the threshold',
    stderr: /^coverage [\d.]+% is below --coverage-threshold 100%$/m,
  },
  {
    args: ['test', 'fixtures/cases/administration.yaml', '--coverage-threshold', 'most'],
    code: 2,
    why: 'a threshold that is not a percentage',
    stderr: /expected a percentage from 0 to 100/,
  },

  { args: ['matrix', '--out', '{tmp}/matrix.html'], code: 0, why: 'written', stdout: /^wrote .*matrix\.html/ },
  {
    args: ['matrix', '--policies', '{invalid}', '--out', '{tmp}/never.html'],
    code: 1,
    why: 'policy errors',
    stderr: /unknown purpose "dirct-care"/,
  },
  { args: ['matrix'], code: 2, why: 'no --out', stderr: /required option '--out <file>'/ },
  { args: ['matrix', '--out', '{tmp}/no/such/dir/matrix.html'], code: 2, why: 'cannot write', stderr: /ENOENT/ },

  { args: ['audit', 'verify', '--audit', '{intact}'], code: 0, why: 'intact', stdout: /^intact: 4 events in 1 chain$/m },
  {
    args: ['audit', 'verify'],
    env: { FIELDMESH_AUDIT: '{intact}' },
    code: 0,
    why: 'intact, named by FIELDMESH_AUDIT',
    stdout: /^intact: 4 events/,
  },
  {
    args: ['audit', 'verify', '--audit', '{tampered}'],
    code: 1,
    why: 'a row was edited',
    stdout: /^BROKEN at event [0-9a-f-]{36} \(chain main, seq 2\)/,
  },
  { args: ['audit', 'verify', '--audit', '{tampered}', '--json'], code: 1, why: 'broken, as JSON', stdout: /"ok": false/ },
  {
    args: ['audit', 'verify', '--audit', '{tmp}/no-such.db'],
    code: 2,
    why: 'no trail file',
    stderr: /^fieldmesh audit verify: no audit trail at .*no-such\.db/,
  },
  {
    args: ['audit', 'verify', '--audit', UNREACHABLE_PG],
    code: 2,
    why: 'PostgreSQL unreachable',
    stderr: /^fieldmesh audit verify: The audit trail postgres:\/\/127\.0\.0\.1:1\/x cannot be read/,
  },
  {
    args: ['audit', 'verify', '--audit', '{intact}', '--frobnicate'],
    code: 2,
    why: 'unknown option',
    stderr: /unknown option '--frobnicate'/,
  },

  { args: ['audit', 'head', '--audit', '{intact}'], code: 0, why: 'the head of an intact chain', stdout: /^4:[0-9a-f]{64}$/m },
  {
    args: ['audit', 'head', '--audit', '{tampered}'],
    code: 1,
    why: 'a broken chain has no head',
    stdout: /^BROKEN at event [0-9a-f-]{36} \(chain main, seq 2\)/,
  },
  { args: ['audit', 'head', '--audit', '{tampered}', '--json'], code: 1, why: 'broken, as JSON', stdout: /"ok": false/ },
  {
    args: ['audit', 'head', '--audit', '{tmp}/no-such.db'],
    code: 2,
    why: 'no trail file',
    stderr: /^fieldmesh audit head: no audit trail at .*no-such\.db/,
  },
  { args: ['audit', 'head', '--audit', UNREACHABLE_PG], code: 2, why: 'PostgreSQL unreachable', stderr: /cannot be read/ },
  {
    args: ['audit', 'head', '--audit', '{intact}', '--frobnicate'],
    code: 2,
    why: 'unknown option',
    stderr: /unknown option '--frobnicate'/,
  },

  { args: ['audit', 'query', '--audit', '{intact}'], code: 0, why: 'listed', stdout: /^4 events$/m },
  {
    args: ['audit', 'query', '--audit', '{intact}', '--user', 'nobody'],
    code: 0,
    why: 'nothing matches',
    stdout: /^No matching events\.$/m,
  },
  { args: ['audit', 'query', '--audit', '{tmp}/no-such.db'], code: 2, why: 'no trail file', stderr: /no audit trail at/ },
  {
    args: ['audit', 'query', '--audit', '{keyed}'],
    code: 3,
    why: 'the query cannot be recorded (a keyed trail, no chain key): nothing shown',
    stderr: /refused: reading the trail is recorded in it, and this read could not be recorded/,
    stdout: /^$/,
  },
  { args: ['audit', 'query', '--audit', UNREACHABLE_PG], code: 2, why: 'PostgreSQL unreachable', stderr: /cannot be read/ },
  {
    args: ['audit', 'query', '--audit', '{intact}', '--decision', 'maybe'],
    code: 2,
    why: 'bad --decision',
    stderr: /--decision <decision>' argument 'maybe' is invalid/,
  },

  { args: ['audit', 'review', '--audit', '{intact}'], code: 0, why: 'listed', stdout: /^1 break-glass event awaiting review$/m },
  {
    args: ['audit', 'review', '--audit', '{acked}', '--ack', '{ackedBreakGlassId}', '--by', 'Dr A Guardian', '--note', 'Justified'],
    code: 0,
    why: 'acknowledged',
    stdout: /^Acknowledged [0-9a-f-]{36} by Dr A Guardian/,
  },
  {
    args: ['audit', 'review', '--audit', '{intact}', '--ack', UNKNOWN_EVENT, '--by', 'G', '--note', 'n'],
    code: 2,
    why: 'unknown event id',
    stderr: new RegExp(`^fieldmesh audit review: No audit event has id ${UNKNOWN_EVENT}$`, 'm'),
  },
  {
    args: ['audit', 'review', '--audit', '{intact}', '--ack', 'ffffffff', '--by', 'G', '--note', 'n'],
    code: 2,
    why: 'unknown id prefix',
    stderr: /no event awaiting review starts with ffffffff/,
  },
  {
    args: ['audit', 'review', '--audit', '{intact}', '--ack', '{plainId}', '--by', 'G', '--note', 'n'],
    code: 2,
    why: 'not break-glass',
    stderr: /is not a break-glass event/,
  },
  {
    args: ['audit', 'review', '--audit', '{intact}', '--ack', '{breakGlassId}', '--by', 'G'],
    code: 2,
    why: '--ack without --note',
    stderr: /--ack needs --by NAME and --note TEXT/,
  },
  {
    args: ['audit', 'review', '--audit', '{tampered}'],
    code: 1,
    why: 'the chain is broken: its queue is not trusted',
    stdout: /^BROKEN at event [0-9a-f-]{36} \(chain main, seq 2\)/,
  },
  {
    args: ['audit', 'review', '--audit', '{tampered}', '--ack', '{breakGlassId}', '--by', 'G', '--note', 'n'],
    code: 1,
    why: 'the chain is broken: nothing acknowledged',
    stdout: /^BROKEN/,
  },
  { args: ['audit', 'review', '--audit', '{tmp}/no-such.db'], code: 2, why: 'no trail file', stderr: /no audit trail at/ },
  { args: ['audit', 'review', '--audit', UNREACHABLE_PG], code: 2, why: 'PostgreSQL unreachable', stderr: /cannot be read/ },

  {
    args: ['audit', 'report', '--audit', '{intact}', '--record', 'p-1002'],
    code: 0,
    why: 'reported',
    stdout: /^Access to record p-1002: 3 events by 3 users/,
  },
  {
    args: ['audit', 'report', '--audit', '{intact}'],
    code: 2,
    why: 'neither --record nor --subject',
    stderr: /give exactly one of --record ID and --subject ID/,
  },
  {
    args: ['audit', 'report', '--audit', '{intact}', '--record', 'p-1002', '--subject', 'p-1002'],
    code: 2,
    why: 'both --record and --subject',
    stderr: /give exactly one of --record ID and --subject ID/,
  },
  {
    // p-2000, which no report before this one asks about: a report on p-1002 by record names it as a subject too.
    args: ['audit', 'report', '--audit', '{intact}', '--subject', 'p-2000'],
    code: 0,
    why: 'reported by subject (events written without subjects name none)',
    stdout: /^No access to records about p-2000 is recorded\./,
  },
  {
    args: ['audit', 'report', '--audit', '{tmp}/no-such.db', '--record', 'p-1002'],
    code: 2,
    why: 'no trail file',
    stderr: /no audit trail at/,
  },
  {
    args: ['audit', 'report', '--audit', '{intact}', '--record', 'p-1002'],
    env: { FIELDMESH_AUDIT_RECORD_KEY: 'not-this-trails-record-key' },
    code: 2,
    why: 'a record-id key the trail was not written with',
    stderr: /this trail stores record ids as they are, but a record-id key/,
  },
  {
    args: ['audit', 'report', '--audit', UNREACHABLE_PG, '--record', 'p-1002'],
    code: 2,
    why: 'PostgreSQL unreachable',
    stderr: /cannot be read/,
  },
  {
    args: ['audit', 'report', '--audit', '{keyed}', '--record', 'p-1002'],
    code: 3,
    why: 'the report cannot be recorded: nothing shown',
    stderr: /audit report: refused: reading the trail is recorded/,
    stdout: /^$/,
  },

  { args: ['audit', 'export', '--audit', '{intact}'], code: 0, why: 'exported', stdout: /^\{"id":"[^"]+","chain":"main","seq":1,/ },
  {
    args: ['audit', 'export', '--audit', '{intact}', '--format', 'csv'],
    code: 2,
    why: 'unknown --format',
    stderr: /Allowed choices are jsonl, fhir/,
  },
  { args: ['audit', 'export', '--audit', '{intact}', '--after', '-1'], code: 2, why: 'bad --after', stderr: /expected a seq/ },
  { args: ['audit', 'export', '--audit', '{tmp}/no-such.db'], code: 2, why: 'no trail file', stderr: /no audit trail at/ },
  { args: ['audit', 'export', '--audit', UNREACHABLE_PG], code: 2, why: 'PostgreSQL unreachable', stderr: /cannot be read/ },
  {
    args: ['audit', 'export', '--audit', '{intact}', '--cursor', '{tmp}/bad.cursor'],
    code: 2,
    why: 'a cursor file that holds no position',
    stderr: /does not hold a position/,
  },
  {
    args: ['audit', 'export', '--audit', '{intact}', '--cursor', '{tmp}/far.cursor'],
    code: 2,
    why: "a cursor naming an event the trail does not hold (another trail's, or one rolled back since)",
    stderr: /the trail no longer holds the event the cursor .* names/,
    stdout: /^$/,
  },
  {
    args: ['audit', 'export', '--audit', '{intact}', '--after', '999999'],
    code: 2,
    why: '--after beyond the end of the trail',
    stderr: /--after 999999 is beyond the end of the trail/,
    stdout: /^$/,
  },
  {
    args: ['audit', 'export', '--audit', '{intact}', '--cursor', '{tmp}/linked.cursor'],
    code: 2,
    why: 'a symbolic link as the cursor',
    stderr: /is a symbolic link/,
    stdout: /^$/,
  },
  {
    args: ['audit', 'export', '--audit', '{intact}', '--cursor', '{tmp}/no/such/dir/c'],
    code: 2,
    why: 'a cursor in a directory that does not exist: nothing exported',
    stderr: /cannot save the cursor .*ENOENT/,
    stdout: /^$/,
  },
  {
    args: ['audit', 'export', '--audit', '{keyed}'],
    code: 3,
    why: 'the export cannot be recorded: nothing exported',
    stderr: /audit export: refused: reading the trail is recorded/,
    stdout: /^$/,
  },

  {
    args: ['audit', 'verify', '--audit', '{intact}', '--archive', '{tmp}/not-an-archive.jsonl'],
    code: 1,
    why: 'an archive given for a trail that records none',
    stdout: /^BROKEN: this trail records no archive/m,
  },
  {
    args: ['audit', 'archive', '--audit', '{archivable}', '--before', '2026-03-02', '--out', '{tmp}/archive-1.jsonl'],
    code: 0,
    why: 'archived (up to the break-glass event of 2026-03-02)',
    stdout: /^archived seq 1 to 1 \(1 event\) into /m,
  },
  {
    args: ['audit', 'archive', '--audit', '{intact}', '--before', '2000-01-01', '--out', '{tmp}/archive-none.jsonl'],
    code: 0,
    why: 'nothing to archive',
    stdout: /^Nothing to archive: /m,
  },
  {
    args: ['audit', 'archive', '--audit', '{tampered}', '--before', '2026-04-01', '--out', '{tmp}/archive-tampered.jsonl'],
    code: 1,
    why: 'the chain does not verify',
    stdout: /^BROKEN at event /m,
  },
  {
    args: ['audit', 'archive', '--audit', '{intact}', '--before', '2026-04-01', '--out', '{intact}'],
    code: 2,
    why: 'the file exists',
    stderr: /exists: an archive never replaces a file/,
  },
  {
    args: ['audit', 'archive', '--audit', '{intact}', '--before', '2999-01-01', '--out', '{tmp}/archive-future.jsonl'],
    code: 2,
    why: 'a date in the future',
    stderr: /not in the future/,
  },
  {
    args: ['audit', 'archive', '--audit', '{intact}', '--before', 'someday', '--out', '{tmp}/archive-someday.jsonl'],
    code: 2,
    why: 'a malformed date',
    stderr: /expected a date/,
  },
  {
    args: ['audit', 'archive', '--audit', '{tmp}/no-such.db', '--before', '2026-04-01', '--out', '{tmp}/archive-nothing.jsonl'],
    code: 2,
    why: 'no trail at that path',
    stderr: /no audit trail at/,
  },
  {
    args: ['audit', 'archive', '--audit', '{intact}', '--before', '2026-04-01', '--out', '{tmp}/archive-bg.jsonl'],
    code: 3,
    why: 'a break-glass event awaiting review is in the range',
    stderr: /await(s)? review, the oldest .*--include-unreviewed/,
  },
  {
    args: ['serve', '--upstream', 'http://127.0.0.1:1', '--routes', ROUTES, '--port', '0', '--audit', '{tmp}/serve.db'],
    env: GATEWAY_ENV,
    stop: { after: '"gateway listening"', signal: 'SIGTERM', probe: true },
    code: 0,
    why: 'stopped by SIGTERM',
    stdout: /"gateway stopped"/,
  },
  {
    args: [
      'serve',
      '--upstream',
      'http://127.0.0.1:1',
      '--routes',
      ROUTES,
      '--policies',
      '{invalid}',
      '--port',
      '0',
      '--audit',
      '{tmp}/serve.db',
    ],
    env: GATEWAY_ENV,
    code: 1,
    why: 'policy errors',
    // stderr is no terminal here: the reason is a JSON log line.
    stderr: /^\{"level":50,.*"code":"policy_invalid".*unknown purpose \\"dirct-care\\"/,
  },
  { args: ['serve', '--bogus'], code: 2, why: 'unknown option', stderr: /unknown option '--bogus'/ },
  {
    args: ['serve', '--routes', ROUTES],
    env: GATEWAY_ENV,
    code: 2,
    why: 'no upstream',
    stderr: /--upstream \/ FIELDMESH_UPSTREAM: required/,
  },
  {
    args: ['serve', '--upstream', 'http://127.0.0.1:1', '--routes', '{tmp}/no-such-routes.yaml'],
    env: GATEWAY_ENV,
    code: 2,
    why: 'routes file unreadable',
    stderr: /no-such-routes\.yaml › cannot read the file \(ENOENT\)/,
  },
  {
    args: ['serve', '--upstream', 'http://127.0.0.1:1', '--routes', ROUTES, '--port', '{busyPort}', '--audit', '{tmp}/serve.db'],
    env: GATEWAY_ENV,
    code: 2,
    why: 'port in use',
    stderr: /is already in use/,
  },

  {
    args: ['demo', '--port', '0', '--audit', '{tmp}/demo.db'],
    stop: { after: 'Press Ctrl-C', signal: 'SIGINT' },
    code: 0,
    why: 'stopped by Ctrl-C',
    stdout: /DEMO ONLY/,
  },
  {
    args: ['demo', '--port', '0', '--audit', '{tmp}/demo-broken.db'],
    root: '{brokenDemo}',
    code: 1,
    why: 'the example policies have errors',
    stderr: /unknown purpose "dirct-care"/,
  },
  { args: ['demo', '--bogus'], code: 2, why: 'unknown option', stderr: /unknown option '--bogus'/ },
  {
    args: ['demo', '--port', '{busyPort}', '--audit', '{tmp}/demo-busy.db'],
    code: 2,
    why: 'port in use',
    stderr: /port \d+ on 127\.0\.0\.1 is already in use/,
  },
  {
    args: ['demo', '--port', '0', '--audit', '{tmp}/demo-installed.db'],
    root: '{installed}',
    code: 2,
    why: 'not run from a checkout',
    stderr: /^fieldmesh demo needs .*fixtures.records: run it from a checkout/,
  },
];

/** The command a row runs, as docs/cli.md names it. */
function commandOf(args: string[]): string {
  const [first, second] = args;
  if (first === 'audit')
    return ['verify', 'head', 'query', 'review', 'report', 'export', 'archive'].includes(second ?? '') ? `audit ${second}` : 'fieldmesh';
  return ['check', 'diff', 'redact', 'explain', 'test', 'matrix', 'serve', 'demo'].includes(first ?? '') ? (first as string) : 'fieldmesh';
}

/** The (command, code) pairs the table in docs/cli.md documents: every cell that is not a dash. */
function documented(): string[] {
  const doc = readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Exit codes'), doc.indexOf('\n## ', doc.indexOf('## Exit codes') + 1));
  const pairs: string[] = [];
  for (const line of section.split('\n').filter((l) => l.startsWith('| `'))) {
    const [command, ...cells] = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    cells.forEach((cell, code) => {
      if (cell !== '—') pairs.push(`${/`([^`]+)`/.exec(command ?? '')?.[1]} ${code}`);
    });
  }
  return pairs;
}

describe('fieldmesh exit codes (the built binary)', () => {
  const values: Record<string, string> = {};
  const fill = (text: string) => text.replace(/\{(\w+)\}/g, (m, name: string) => values[name] ?? m);
  let busy: Server;

  before(async function () {
    this.timeout(60_000);
    const tmp = mkdtempSync(join(tmpdir(), 'fieldmesh-exit-'));
    values['tmp'] = tmp;

    values['invalid'] = mkdirIn(tmp, 'invalid-policies');
    copyFileSync(join(ROOT, 'test/fixtures/policies/invalid/unknown-purpose.yaml'), join(values['invalid'], 'policies.yaml'));
    values['widened'] = join(tmp, 'widened-policies');
    cpSync(join(ROOT, 'policies'), values['widened'], { recursive: true });
    const roles = join(values['widened'], 'roles.yaml');
    writeFileSync(roles, readFileSync(roles, 'utf8').replace('where: { careTeam: "${user.team}" }', ''));
    values['emptyDir'] = mkdirIn(tmp, 'no-cases');
    values['badRecords'] = mkdirIn(tmp, 'bad-records');
    writeFileSync(join(values['badRecords'], 'Patient.json'), '[{"id": "pat-001", "name": Jane}]');
    values['unknownRoleClaims'] = join(tmp, 'claims.json');
    writeFileSync(values['unknownRoleClaims'], JSON.stringify({ sub: 'u1', roles: ['recepshionist'], training: '2026-06-01' }));
    values['badNowCase'] = join(tmp, 'bad-now.yaml');
    writeFileSync(
      values['badNowCase'],
      [
        'now: someday',
        'user: { training: 2026-06-01 }',
        'cases:',
        '  - name: any',
        '    resource: Patient',
        '    purpose: direct-care',
        '    user: { sub: g, roles: [gp] }',
        '    record: { id: p, name: Ann }',
        '    expect: { id: p, name: Ann }',
        '',
      ].join('\n'),
    );
    values['failingCase'] = join(tmp, 'failing.yaml');
    writeFileSync(
      values['failingCase'],
      [
        'now: 2026-11-24T12:00:00Z',
        'user: { training: 2026-06-01 }',
        'cases:',
        '  - name: expects a name the GP is shown differently',
        '    resource: Patient',
        '    purpose: direct-care',
        '    user: { sub: g, roles: [gp] }',
        '    record: { id: p, name: Ann }',
        '    expect: { id: p, name: Bob }',
        '',
      ].join('\n'),
    );

    // Trails: one intact, one with an edited row, one to acknowledge in.
    const intact = await trail(join(tmp, 'intact.db'));
    values['intact'] = intact.file;
    values['plainId'] = intact.plainId;
    values['breakGlassId'] = intact.breakGlassId;
    const tampered = await trail(join(tmp, 'tampered.db'));
    const db = new Database(tampered.file);
    db.prepare("UPDATE fieldmesh_audit_events SET purpose = 'research' WHERE seq = 2").run();
    db.close();
    values['tampered'] = tampered.file;
    const acked = await trail(join(tmp, 'acked.db'));
    values['acked'] = acked.file;
    values['ackedBreakGlassId'] = acked.breakGlassId;
    // A keyed trail read without its chain key: it can be read, but a read of it cannot be recorded.
    values['keyed'] = (await trail(join(tmp, 'keyed.db'), { chainKey: 'exit-codes-chain-key-0123456789' })).file;
    writeFileSync(join(tmp, 'bad.cursor'), 'seq five\n');
    writeFileSync(join(tmp, 'far.cursor'), `{"chain":"main","seq":999999,"hash":"${'0'.repeat(64)}"}\n`);
    symlinkSync(join(tmp, 'far.cursor'), join(tmp, 'linked.cursor'));
    values['archivable'] = (await trail(join(tmp, 'archivable.db'))).file;

    // The package as npm installs it (dist, no fixtures), and a checkout whose example policies are broken.
    values['installed'] = packageCopy(join(tmp, 'installed'));
    values['brokenDemo'] = packageCopy(join(tmp, 'broken-demo'));
    for (const dir of ['fixtures', 'examples']) symlinkSync(join(ROOT, dir), join(values['brokenDemo'], dir), 'dir');
    cpSync(values['invalid'], join(values['brokenDemo'], 'policies'), { recursive: true });

    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
    values['busyPort'] = String((busy.address() as AddressInfo).port);
  });

  after(() => {
    busy?.close();
    if (values['tmp'] !== undefined) rmSync(values['tmp'], { recursive: true, force: true });
  });

  for (const row of ROWS) {
    const title = `${row.root === undefined ? '' : `(in ${row.root}) `}${commandOf(row.args)}: ${row.args.join(' ')} → ${row.code} (${row.why})`;
    it(title, async () => {
      const env = Object.fromEntries(Object.entries(row.env ?? {}).map(([k, v]) => [k, fill(v)]));
      const opts = {
        env,
        ...(row.input === undefined ? {} : { input: row.input }),
        ...(row.root === undefined ? {} : { bin: join(fill(row.root), relative(ROOT, BIN)) }),
      };
      const args = row.args.map(fill);
      let r: Run;
      if (row.stop) {
        const p = startFieldmesh(args, opts);
        try {
          await p.waitFor(row.stop.after);
          if (row.stop.probe) {
            // The line is logged as the server starts listening; the signal handlers are wired in the same
            // turn of the event loop, so once a request has been answered they are in place.
            const line = p.out.stdout.split('\n').find((l) => l.includes(row.stop!.after)) ?? '';
            expect((await fetch(`${(JSON.parse(line) as { url: string }).url}/healthz`)).status).to.equal(200);
          }
          p.stop(row.stop.signal);
          r = { ...(await p.exited), ...p.out };
        } finally {
          p.stop('SIGKILL');
        }
      } else {
        r = await fieldmeshAsync(args, opts);
      }
      expect(r.code, `exit code\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`).to.equal(row.code);
      if (row.stdout) expect(r.stdout).to.match(row.stdout);
      if (row.stderr) expect(r.stderr).to.match(row.stderr);
    });
  }

  it('has commands signal failure only by throwing: bin.ts alone hands a code to the process', () => {
    // bin.ts sets process.exitCode from main's answer, so a code a command set itself would be overwritten with 0.
    const dir = join(ROOT, 'src', 'cli');
    const offenders = readdirSync(dir)
      .filter((f) => f.endsWith('.ts') && f !== 'bin.ts')
      .filter((f) => /process\.exit(Code)?\b/.test(readFileSync(join(dir, f), 'utf8')));
    expect(offenders).to.deep.equal([]);
  });

  it('covers every exit code docs/cli.md documents, and documents every code covered here', () => {
    const covered = [...new Set(ROWS.map((r) => `${commandOf(r.args)} ${r.code}`))].sort();
    expect(covered).to.deep.equal([...new Set(documented())].sort());
  });
});

function mkdirIn(parent: string, name: string): string {
  const dir = join(parent, name);
  mkdirSync(dir);
  return dir;
}

/** A trail where a nurse read p-1002, a consultant broke glass for it, a porter was refused it, and p-2000 was read. */
async function trail(file: string, opts: AuditStoreOptions = {}): Promise<{ file: string; plainId: string; breakGlassId: string }> {
  const store = await openAuditStore(file, opts);
  const plain = await store.append(sampleEntry({ time: '2026-03-01T14:02:11Z' }));
  const breakGlass = await store.append(breakGlassEntry({ time: '2026-03-02T03:12:44Z' }));
  await store.append(
    sampleEntry({
      time: '2026-03-03T10:00:00Z',
      user: 'u-7',
      roles: ['porter'],
      decision: 'refused',
      code: 'purpose_not_granted',
      status: 403,
      recordIds: [],
      withheldRecordIds: ['p-1002'],
      fieldsDisclosed: [],
    }),
  );
  await store.append(sampleEntry({ time: '2026-03-04T08:00:00Z', recordIds: ['p-2000'] }));
  await store.close();
  return { file, plainId: plain.id, breakGlassId: breakGlass.id };
}

/** The built package copied to `dir`, as npm installs it: dist and package.json, its dependencies beside it. */
function packageCopy(dir: string): string {
  mkdirSync(dir);
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}
