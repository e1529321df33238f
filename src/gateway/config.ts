import { existsSync, readFileSync } from 'node:fs';
import { validateHeaderValue } from 'node:http';
import { dirname } from 'node:path';
import { z } from 'zod';
import { DEFAULT_SQLITE_FILE, resolveTarget } from '../audit/target.js';
import { FieldmeshError } from '../lib/errors.js';
import { keyProblem } from '../lib/keys.js';
import { hasEdgeWhitespace } from '../lib/text.js';
import { isHttpUrl, publicUrlProblem, webhookUrlProblem } from '../lib/url.js';
import { envOrFile, FILE_VARIABLES, type FileVariable } from '../lib/env-file.js';
import { TRAINING_MAX_AGE_DAYS_LIMIT } from '../engine/plan.js';
import { purposeClaimProblem } from '../http/purpose-of-use.js';

/**
 * One setting: its flag, its environment variable and its schema. Flags win
 * over the environment (docs/gateway.md, "Configuration"); secrets never live in policy files.
 */
interface Setting<S extends z.ZodType> {
  flag?: string;
  env?: string;
  schema: S;
}
const setting = <S extends z.ZodType>(s: Setting<S>): Setting<S> => s;

const text = z.string().trim().min(1, 'must not be empty');
const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
/** A secret key, when given, is checked by the one rule every entry point shares (src/lib/keys.ts): never trimmed. */
const secretKey = z
  .string()
  .superRefine((key, ctx) => {
    const problem = keyProblem(key);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  })
  .optional();
const httpUrl = text.refine(isHttpUrl, 'must be an http:// or https:// URL');
/**
 * A secret or a value that may hold one, used as it is written: never trimmed
 * (src/lib/env-file.ts gives the rule for variables and files; a flag keeps it too).
 * Its problems never quote it.
 */
const exact = z
  .string()
  .min(1, 'must not be empty')
  .refine((v) => !hasEdgeWhitespace(v), 'must not begin or end with whitespace (a space, a tab or a line break): it is never trimmed');
/** The Authorization header sent upstream: a line break in it would add a header of the caller's choosing. */
const headerValue = exact.refine((v) => {
  try {
    validateHeaderValue('authorization', v);
    return true;
  } catch {
    return false;
  }
}, 'must be a valid header value: no line break or other control character');
/** The break-glass webhook, by the rule `withBreakGlassAlert` applies too (src/lib/url.ts). */
const webhookUrl = exact.superRefine((url, ctx) => {
  const problem = webhookUrlProblem(url);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
/** The gateway's own address, which links in its answers start with (src/lib/url.ts). */
const publicUrl = text.superRefine((url, ctx) => {
  const problem = publicUrlProblem(url);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
/**
 * The audit trail: classified by the one rule (src/audit/target.ts), so a
 * URL that is not postgres:// or malformed, or surrounding whitespace, stops
 * start-up; a SQLite file may be created, but not its folder.
 */
const auditTarget = z
  .string()
  .min(1, 'must not be empty')
  .superRefine((target, ctx) => {
    let resolved: ReturnType<typeof resolveTarget>;
    try {
      resolved = resolveTarget(target);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^openAuditStore: /, '') });
      return;
    }
    if (resolved.kind === 'sqlite' && !existsSync(dirname(resolved.path)))
      ctx.addIssue({
        code: 'custom',
        message: `the folder of the SQLite file ${resolved.path} does not exist (the file is created, its folder is not)`,
      });
  });

/** The token claim carrying HL7 PurposeOfUse, by the rule the middleware's option follows too. */
const purposeClaim = text.superRefine((name, ctx) => {
  const problem = purposeClaimProblem(name);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const SETTINGS = {
  jwtSecret: setting({ flag: '--jwt-secret', env: 'FIELDMESH_JWT_SECRET', schema: exact.optional() }),
  jwtPublicKey: setting({ flag: '--jwt-public-key', env: 'FIELDMESH_JWT_PUBLIC_KEY', schema: text.optional() }),
  jwtJwksUrl: setting({ flag: '--jwt-jwks-url', env: 'FIELDMESH_JWT_JWKS_URL', schema: httpUrl.optional() }),
  jwtIssuer: setting({ flag: '--jwt-issuer', env: 'FIELDMESH_JWT_ISSUER', schema: text.optional() }),
  jwtAudience: setting({ flag: '--jwt-audience', env: 'FIELDMESH_JWT_AUDIENCE', schema: text.optional() }),
  jwtRolesClaim: setting({ flag: '--jwt-roles-claim', env: 'FIELDMESH_JWT_ROLES_CLAIM', schema: text.default('roles') }),
  purposeClaim: setting({ flag: '--purpose-claim', env: 'FIELDMESH_PURPOSE_CLAIM', schema: purposeClaim.optional() }),
  pseudonymKey: setting({ env: 'FIELDMESH_PSEUDONYM_KEY', schema: secretKey }),
  audit: setting({ flag: '--audit', env: 'FIELDMESH_AUDIT', schema: auditTarget.default(DEFAULT_SQLITE_FILE) }),
  auditRecordIdKey: setting({ env: 'FIELDMESH_AUDIT_RECORD_KEY', schema: secretKey }),
  auditChainKey: setting({ env: 'FIELDMESH_AUDIT_CHAIN_KEY', schema: secretKey }),
  trainingMaxAgeDays: setting({
    flag: '--training-max-age-days',
    env: 'FIELDMESH_TRAINING_MAX_AGE_DAYS',
    schema: int(1, TRAINING_MAX_AGE_DAYS_LIMIT).default(365),
  }),
  port: setting({ flag: '--port', env: 'PORT', schema: int(0, 65535).default(8080) }),
  host: setting({ flag: '--host', env: 'FIELDMESH_HOST', schema: text.default('127.0.0.1') }),
  upstream: setting({ flag: '--upstream', env: 'FIELDMESH_UPSTREAM', schema: httpUrl.optional() }),
  publicUrl: setting({ flag: '--public-url', env: 'FIELDMESH_PUBLIC_URL', schema: publicUrl.optional() }),
  routes: setting({ flag: '--routes', env: 'FIELDMESH_ROUTES', schema: text.optional() }),
  policies: setting({ flag: '--policies', env: 'FIELDMESH_POLICIES', schema: text.default('./policies') }),
  upstreamAuthorization: setting({
    flag: '--upstream-credential',
    env: 'FIELDMESH_UPSTREAM_AUTHORIZATION',
    schema: headerValue.optional(),
  }),
  breakGlassWebhook: setting({ flag: '--break-glass-webhook', env: 'FIELDMESH_BREAK_GLASS_WEBHOOK', schema: webhookUrl.optional() }),
  timeoutMs: setting({ flag: '--timeout-ms', env: 'FIELDMESH_TIMEOUT_MS', schema: int(1, 600_000).default(10_000) }),
  maxBodyBytes: setting({
    flag: '--max-body-bytes',
    env: 'FIELDMESH_MAX_BODY_BYTES',
    schema: int(1024, 1_073_741_824).default(10_485_760),
  }),
};
type Settings = typeof SETTINGS;

/**
 * The gateway's configuration, resolved: every value parsed and defaulted,
 * the PEM key read from its file.
 *
 * @example
 * const config: Config = resolveConfig({ upstream: 'http://127.0.0.1:3000', routes: 'routes.yaml' }, process.env);
 */
export type Config = { [K in keyof Settings]: z.output<Settings[K]['schema']> };

/**
 * Flags as commander hands them over (camel-cased option names), all strings.
 */
export type ConfigFlags = Partial<Record<keyof Settings, string | undefined>>;

/**
 * A configuration that cannot be used. Each problem names the flag or the
 * variable it came from, never a secret's value.
 *
 * @example
 * try { resolveConfig(flags, process.env) } catch (e) { if (e instanceof ConfigError) console.error(e.message) }
 */
export class ConfigError extends FieldmeshError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super('config_invalid', `invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

/** What a problem is called: the flag when it was given, else the variable. */
function sourceOf(s: Setting<z.ZodType>, fromFlag: boolean): string {
  if (fromFlag && s.flag !== undefined) return s.flag;
  if (s.env !== undefined) return s.env;
  return s.flag ?? '';
}
function labelOf(s: Setting<z.ZodType>): string {
  return [s.flag, s.env].filter((x) => x !== undefined).join(' / ');
}

/**
 * Resolve the configuration from flags and environment (flags win). A secret
 * variable may instead name a file (`FIELDMESH_JWT_SECRET_FILE`, src/lib/env-file.ts),
 * read here, once. Throws a `ConfigError` listing every problem at once: a
 * wrong value, a variable set both ways, an unreadable secret file, more
 * than one or no JWT key source, an unreadable public key file, a short HMAC secret.
 *
 * @example
 * const config = resolveConfig(program.opts(), process.env);
 */
export function resolveConfig(
  flags: ConfigFlags,
  env: Record<string, string | undefined>,
  opts: { requireUpstream?: boolean } = {},
): Config {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  const from: Record<string, string> = {};
  const failed = new Set<string>();
  for (const [key, s] of Object.entries(SETTINGS) as [keyof Settings, Setting<z.ZodType>][]) {
    // By its key, or as the command line names it (commander reads `--upstream-credential` as `upstreamCredential`).
    const flag = flags[key] ?? (s.flag === undefined ? undefined : (flags as Record<string, string | undefined>)[camelCase(s.flag)]);
    const fromFlag = flag !== undefined;
    from[key] = sourceOf(s, fromFlag);
    let raw = fromFlag ? flag : s.env !== undefined ? env[s.env] : undefined;
    if (!fromFlag && isFileVariable(s.env)) {
      const got = envOrFile(env, s.env);
      if (got.problem !== undefined) {
        failed.add(key);
        problems.push(got.problem);
        continue;
      }
      raw = got.value;
      from[key] = got.from;
    }
    const parsed = s.schema.safeParse(raw === '' && !fromFlag ? undefined : raw);
    if (parsed.success) out[key] = parsed.data;
    else {
      failed.add(key);
      problems.push(`${from[key]}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    }
  }
  const config = out as Config;
  checkIdentity(config, from, problems, failed);
  if (opts.requireUpstream === true) {
    if (config.upstream === undefined && !failed.has('upstream'))
      problems.push(`${labelOf(SETTINGS.upstream)}: required (the record API to put need-to-know in front of)`);
    if (config.routes === undefined && !failed.has('routes'))
      problems.push(`${labelOf(SETTINGS.routes)}: required (the routes file mapping paths to resources)`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Exactly one key source, a strong enough HMAC secret, a readable public key file. */
function checkIdentity(config: Config, from: Record<string, string>, problems: string[], failed: Set<string>): void {
  const sources = ['jwtSecret', 'jwtPublicKey', 'jwtJwksUrl'] as const;
  const given = sources.filter((k) => config[k] !== undefined);
  // A source that failed has its own problem already: "none is set" would mislead.
  if (given.length === 0 && !sources.some((k) => failed.has(k))) {
    problems.push(
      `one of ${labelOf(SETTINGS.jwtSecret)}, ${labelOf(SETTINGS.jwtPublicKey)} or ${labelOf(SETTINGS.jwtJwksUrl)} is required: tokens must be verified`,
    );
  } else if (given.length > 1) {
    problems.push(`only one JWT key source may be set, got ${given.map((k) => from[k]).join(' and ')}`);
  }
  // RFC 7518 §3.2: an HS256 key shorter than the hash output can be brute-forced.
  if (config.jwtSecret !== undefined && Buffer.byteLength(config.jwtSecret) < 32) {
    problems.push(`${from['jwtSecret']}: must be at least 32 bytes (RFC 7518 §3.2)`);
  }
  if (config.jwtPublicKey !== undefined) {
    try {
      config.jwtPublicKey = readFileSync(config.jwtPublicKey, 'utf8');
    } catch (e) {
      problems.push(
        `${from['jwtPublicKey']}: cannot read the PEM file ${config.jwtPublicKey} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      );
      return;
    }
    if (!/-----BEGIN (RSA )?PUBLIC KEY-----/.test(config.jwtPublicKey))
      problems.push(`${from['jwtPublicKey']}: the file does not hold a PEM public key`);
  }
}

function isFileVariable(name: string | undefined): name is FileVariable {
  return (FILE_VARIABLES as readonly (string | undefined)[]).includes(name);
}

/**
 * The commander option definitions for every flag, with their help text.
 *
 * @example
 * for (const [flags, help] of CONFIG_OPTIONS) cmd.option(flags, help);
 */
export const CONFIG_OPTIONS: [string, string][] = [
  ['--upstream <url>', 'the record API to protect (FIELDMESH_UPSTREAM)'],
  ['--routes <file>', 'routes file: paths → resources (FIELDMESH_ROUTES)'],
  ['--public-url <url>', "the gateway's address as clients reach it, for links in answers (FIELDMESH_PUBLIC_URL)"],
  ['--policies <dir>', 'policy directory (FIELDMESH_POLICIES, default ./policies)'],
  ['--port <n>', 'port to listen on, 0 for any free port (PORT, default 8080)'],
  ['--host <host>', 'address to listen on (FIELDMESH_HOST, default 127.0.0.1)'],
  ['--audit <path|url>', 'SQLite file or postgres:// URL (FIELDMESH_AUDIT, default ./fieldmesh-audit.db)'],
  ['--jwt-secret <secret>', 'HMAC key for HS256 tokens, at least 32 bytes (FIELDMESH_JWT_SECRET)'],
  ['--jwt-public-key <file>', 'PEM public key file for RS256/ES256 tokens (FIELDMESH_JWT_PUBLIC_KEY)'],
  ['--jwt-jwks-url <url>', "an identity provider's key set (FIELDMESH_JWT_JWKS_URL)"],
  ['--jwt-issuer <iss>', 'required token issuer (FIELDMESH_JWT_ISSUER)'],
  ['--jwt-audience <aud>', 'required token audience (FIELDMESH_JWT_AUDIENCE)'],
  ['--jwt-roles-claim <path>', 'claim holding the roles (FIELDMESH_JWT_ROLES_CLAIM, default roles)'],
  ['--purpose-claim <name>', 'token claim carrying HL7 PurposeOfUse codes, a name or dotted path (FIELDMESH_PURPOSE_CLAIM)'],
  ['--training-max-age-days <n>', 'confidentiality training limit (FIELDMESH_TRAINING_MAX_AGE_DAYS, default 365)'],
  ['--upstream-credential <value>', 'Authorization header sent to the record API (FIELDMESH_UPSTREAM_AUTHORIZATION)'],
  ['--break-glass-webhook <url>', 'http(s) URL POSTed each break-glass event (FIELDMESH_BREAK_GLASS_WEBHOOK)'],
  ['--timeout-ms <n>', 'upstream time limit in ms (FIELDMESH_TIMEOUT_MS, default 10000)'],
  ['--max-body-bytes <n>', 'largest request or upstream body (FIELDMESH_MAX_BODY_BYTES, default 10485760)'],
];

/** `--upstream-credential` → `upstreamCredential`, as commander names an option. */
function camelCase(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
