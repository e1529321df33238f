import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { HOSTILE_KEYS } from '../lib/paths.js';
import { printableJson } from '../lib/text.js';
import { grantKey, type CompiledPolicies } from '../engine/compile.js';
import { FieldmeshError } from '../lib/errors.js';
import { didYouMean } from '../lib/suggest.js';
import { pseudonymKeyProblem } from '../engine/transforms.js';
import { formatTrace } from '../engine/trace-format.js';
import type { Trace } from '../engine/trace.js';
import { CliExit, EXIT, loadForCli, parseNow, secretEnv, withPolicies } from './common.js';

interface RedactOptions {
  policies: string;
  role?: string;
  user?: string;
  purpose: string;
  resource: string;
  breakGlass?: string;
  now?: string;
  claim?: string[];
  trace?: boolean;
  json?: boolean;
}

/**
 * `fieldmesh redact`: print the redacted JSON of a record or a list. A refused
 * request (a single record withheld whole included) exits 3 with the JSON
 * error on stderr, naming its first cause; a list never refuses, it drops
 * rows. `--trace` prints how the decision was made instead of the data.
 *
 * @example
 * registerRedact(program); // fieldmesh redact --role gp --purpose direct-care --resource Patient record.json
 */
export function registerRedact(program: Command): void {
  withPolicies(program.command('redact'))
    .description('redact a record (object) or a list (array) for a role or user, purpose and resource')
    .argument('[file]', 'JSON file, or - for standard input', '-')
    .option('--role <role>', 'act as a user holding this role (with current training)')
    .option('--user <claims.json>', 'act as the user with these claims (JSON file)')
    .option('--claim <name=value>', 'with --role: give the user this claim, as text (repeatable), e.g. --claim practice=B86001', collect)
    .requiredOption('--purpose <purpose>', 'the declared purpose')
    .requiredOption('--resource <resource>', 'the resource type of the input')
    .option('--break-glass <reason>', 'break-glass reason (break-glass purposes only)')
    .option('--now <date>', 'the clock for review dates, training and age bands')
    .option('--trace', 'print how the decision was made (gates, grants, restrictions, fields) instead of the data')
    .option('--json', 'with --trace: print the trace as JSON')
    .addHelpText(
      'after',
      '\nExit codes: 0 disclosed, 1 policy errors, 2 usage or input errors (an unknown --resource or --role\nincluded), 3 refused (with --trace too). The pseudonym key comes from FIELDMESH_PSEUDONYM_KEY.',
    )
    .action(async (file: string, opts: RedactOptions) => {
      if ((opts.role === undefined) === (opts.user === undefined)) throw new CliExit(EXIT.usage, 'give exactly one of --role or --user');
      if (opts.json && !opts.trace) throw new CliExit(EXIT.usage, '--json goes with --trace (redact prints JSON already)');
      if (opts.user !== undefined && opts.claim !== undefined)
        throw new CliExit(EXIT.usage, '--claim goes with --role; with --user, put the claims in the file');
      const now = parseNow(opts.now) ?? new Date();
      const user =
        opts.user !== undefined
          ? await readJson(opts.user, 'user claims')
          : { sub: 'cli', roles: [opts.role], training: now.toISOString().slice(0, 10), ...claimsOf(opts.claim ?? []) };
      if (user === null || typeof user !== 'object' || Array.isArray(user))
        throw new CliExit(EXIT.usage, '--user: the claims file must hold a JSON object');
      const input = await readJson(file, 'input');
      const pseudonymKey = secretEnv('FIELDMESH_PSEUDONYM_KEY');
      const keyProblem = pseudonymKeyProblem(pseudonymKey, false);
      if (keyProblem !== undefined) throw new CliExit(EXIT.usage, `FIELDMESH_PSEUDONYM_KEY: ${keyProblem}`);
      const policies = await loadForCli(opts.policies, { pseudonymKey });
      // Which policy to apply and a role typed here are the command's own words: a typo is a usage error.
      // The purpose is the request's declaration, refused by the engine as over HTTP (purpose_unknown, exit 3);
      // the roles of a --user claims file are data, for the policy to decide.
      knownName('resource', opts.resource, policies.resourceNames());
      if (opts.role !== undefined) knownName('role', opts.role, Object.keys(policies.compiled.document.roles));
      const ctx = {
        resource: opts.resource,
        purpose: opts.purpose,
        user: user as Record<string, unknown>,
        breakGlass: opts.breakGlass,
        now,
      };
      // The trace is printed instead of the data; the exit code stays the one redact gives, so redact runs either way.
      const printTrace = (trace: Trace) => process.stdout.write(opts.json ? `${printableJson(trace)}\n` : formatTrace(trace));
      try {
        const { data } = policies.redact(input, ctx);
        if (opts.trace) printTrace(policies.trace(input, ctx));
        else process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
      } catch (e) {
        if (!(e instanceof FieldmeshError)) throw e;
        // A number or a string is not a record: the input is wrong, nothing was refused.
        if (e.code === 'unredactable_body')
          throw new CliExit(EXIT.usage, `input ${file === '-' ? '(stdin)' : file} cannot be redacted: ${e.message}`);
        // No key is configuration missing, not a refusal of the request: fix the environment and run again.
        if (e.code === 'pseudonym_key_missing')
          throw new CliExit(
            EXIT.usage,
            `FIELDMESH_PSEUDONYM_KEY: required, since purpose "${opts.purpose}" pseudonymises fields (set a key of at least 16 characters)`,
          );
        // A --role user lacking a claim the role's grants read is the usual first cause of seeing nothing: say which.
        const missing = opts.role !== undefined ? missingClaims(policies.compiled, opts.role, opts.purpose, opts.resource, user) : [];
        const hint =
          missing.length > 0
            ? `the grants of role "${opts.role}" for this purpose read the claim${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, which this user lacks: give ${missing.map((c) => `--claim ${c}=…`).join(' ')}`
            : undefined;
        // The first cause, from the trace of the same decision: which gate, grant or restriction refused.
        const trace = policies.trace(input, ctx);
        const cause = trace.outcome === 'refused' && trace.code === e.code ? trace.cause : undefined;
        if (opts.trace) printTrace(trace);
        process.stderr.write(
          `${printableJson({ error: { code: e.code, message: e.message, ...(hint ? { hint } : {}), ...(cause ? { cause } : {}) } }, 0)}\n`,
        );
        throw new CliExit(EXIT.refused);
      }
    });
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--claim name=value` pairs as claims; roles come from --role, and a name that could reach a prototype is refused. */
function claimsOf(pairs: readonly string[]): Record<string, string> {
  const claims: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const name = at > 0 ? pair.slice(0, at) : '';
    if (name === '') throw new CliExit(EXIT.usage, `--claim ${pair}: write name=value, e.g. --claim practice=B86001`);
    if (name === 'roles') throw new CliExit(EXIT.usage, '--claim roles=…: the role comes from --role');
    if (HOSTILE_KEYS.has(name)) throw new CliExit(EXIT.usage, `--claim ${name}: not a claim name`);
    if (Object.hasOwn(claims, name)) throw new CliExit(EXIT.usage, `--claim ${name} is given twice: keep one`);
    claims[name] = pair.slice(at + 1);
  }
  return claims;
}

/** The claims this role's grants for the purpose and resource read that the user does not carry: why a --role user may see nothing. */
function missingClaims(compiled: CompiledPolicies, role: string, purpose: string, resource: string, user: object): string[] {
  // The role's grants as compiled, inherited ones included: each names the claims its condition reads.
  const names = (compiled.grants.get(grantKey(role, purpose, resource)) ?? []).flatMap((g) => g.where?.claims ?? []);
  return [...new Set(names)].filter((n) => !Object.hasOwn(user, n)).sort();
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (e) {
    throw new CliExit(EXIT.usage, `cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // The parser's message can quote the input: say where, not what.
    throw new CliExit(EXIT.usage, `${what} ${file === '-' ? '(stdin)' : file} is not valid JSON`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function knownName(kind: string, name: string, names: string[]): void {
  if (!names.includes(name)) throw new CliExit(EXIT.usage, `unknown ${kind} "${name}"${didYouMean(name, names)}`);
}
