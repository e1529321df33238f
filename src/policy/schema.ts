import { z } from 'zod';

/**
 * The policy language (docs/policy-language.md) as zod schemas. Every object is
 * strict: an unknown key is an error, because a typo such as `wher:` must not
 * silently widen or narrow access.
 */

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, ".", "_" or "-"');
/** A dotted field path: `address.postcode`. Hostile segments are refused at load. */
const fieldPath = z.string().regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, 'a dotted field path such as "address.postcode"');
/**
 * An HL7 PurposeOfUse code as a token carries it (`TREAT`, `ETREAT`): a plain
 * code, case-sensitive, as FHIR codes are; never a display text.
 */
export const PURPOSE_OF_USE_CODE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const purposeOfUseCode = z
  .string()
  .regex(PURPOSE_OF_USE_CODE, 'an HL7 PurposeOfUse code such as "TREAT": letters, digits, ".", "_" or "-"');
const isoDate = z.union([
  // A calendar date that exists: 2026-99-99 or 2026-02-30 is refused, never rolled over.
  z.iso.date({ error: 'a real calendar date such as 2027-03-31' }),
  z.date().transform((d) => d.toISOString().slice(0, 10)),
]);

export const FIELD_CLASSES = ['identifier', 'direct', 'quasi', 'special', 'operational'] as const;
export type FieldClass = (typeof FIELD_CLASSES)[number];
export const TRANSFORMS = ['pseudonym', 'year', 'district', 'mask', 'age-band'] as const;
export type TransformName = (typeof TRANSFORMS)[number];

/** A CASL / MongoDB-style condition; its operators are checked by `conditions.ts`. */
export const conditionSchema = z.record(z.string(), z.unknown());
export type Condition = z.infer<typeof conditionSchema>;

export const resourceSchema = z.strictObject({
  description: z.string().optional(),
  id: fieldPath.default('id'),
  /** Path of the id of the person a record is about (one of its declared fields): audit reports by subject find it. */
  subject: fieldPath.optional(),
  consent: fieldPath.optional(),
  optOut: fieldPath.optional(),
  fields: z.record(fieldPath, z.enum(FIELD_CLASSES)),
});

export const viewSchema = z.strictObject({
  fields: z.array(fieldPath),
  transform: z.record(fieldPath, z.enum(TRANSFORMS)).default({}),
});

export const purposeSchema = z.strictObject({
  description: z.string().optional(),
  lawfulBasis: z.strictObject({ article6: z.string().min(1), article9: z.string().min(1).optional() }),
  owner: z.string().optional(),
  reviewBy: isoDate,
  identifiable: z.boolean().default(true),
  consent: z.enum(['implied', 'required']).default('implied'),
  optOut: z.enum(['ignore', 'respect']).default('ignore'),
  breakGlass: z.boolean().default(false),
  /** The HL7 PurposeOfUse codes a token's purpose claim names this purpose by (docs/fhir.md, "Purpose of use from the token"). */
  purposeOfUse: z.array(purposeOfUseCode).min(1, 'name at least one code, or leave purposeOfUse out').optional(),
  /** On FHIR routes, mark what was withheld from this purpose's answers (docs/fhir.md, "Withheld, not absent"). */
  markWithheld: z.boolean().default(false),
  views: z.record(name, viewSchema),
});

const fieldList = z.array(fieldPath);
export const grantSchema = z.strictObject({
  purpose: name,
  resource: name,
  description: z.string().optional(),
  read: z.union([z.literal('view'), fieldList]).optional(),
  update: fieldList.optional(),
  create: fieldList.optional(),
  where: conditionSchema.optional(),
});

export const roleSchema = z.strictObject({
  description: z.string().optional(),
  /** Roles whose grants this role holds too, transitively (policy/roles.ts). */
  inherits: z.array(name).optional(),
  grants: z.array(grantSchema).default([]),
});

export const restrictionSchema = z.strictObject({
  name,
  resource: name,
  description: z.string().optional(),
  when: conditionSchema.optional(),
  withhold: z.union([z.literal('record'), z.array(z.union([z.literal('record'), fieldPath])).min(1)]),
  unless: z.strictObject({ roles: z.array(name).optional(), purposes: z.array(name).optional() }).optional(),
  because: z
    .string({ error: 'say why (because: …): the reason is recorded with every decision' })
    .min(1, 'say why: the reason is recorded with every decision'),
});

/** One policy file: any of the four sections. */
export const policyFileSchema = z.strictObject({
  resources: z.record(name, resourceSchema).optional(),
  purposes: z.record(name, purposeSchema).optional(),
  roles: z.record(name, roleSchema).optional(),
  restrictions: z.array(restrictionSchema).optional(),
});

export type ResourceDef = z.infer<typeof resourceSchema>;
export type ViewDef = z.infer<typeof viewSchema>;
export type PurposeDef = z.infer<typeof purposeSchema>;
export type GrantDef = z.infer<typeof grantSchema>;
export type RoleDef = z.infer<typeof roleSchema>;
export type RestrictionDef = z.infer<typeof restrictionSchema>;
export type PolicyFile = z.infer<typeof policyFileSchema>;

/** The merged policy set, with the file each definition came from. */
export interface PolicyDocument {
  resources: Record<string, ResourceDef>;
  purposes: Record<string, PurposeDef>;
  roles: Record<string, RoleDef>;
  restrictions: RestrictionDef[];
  /** `resources.Patient` → `policies/resources.yaml`. */
  sources: Map<string, string>;
  /** Where each restriction was written: its file and its index in that file. */
  restrictionOrigins: { file: string; index: number }[];
}

/** Every key the language knows: used to suggest a fix for an unknown key. */
export const KNOWN_KEYS = [
  'resources',
  'purposes',
  'roles',
  'restrictions',
  'description',
  'id',
  'subject',
  'consent',
  'optOut',
  'fields',
  'lawfulBasis',
  'article6',
  'article9',
  'owner',
  'reviewBy',
  'identifiable',
  'breakGlass',
  'purposeOfUse',
  'markWithheld',
  'views',
  'transform',
  'grants',
  'inherits',
  'purpose',
  'resource',
  'read',
  'update',
  'create',
  'where',
  'name',
  'when',
  'withhold',
  'unless',
  'because',
];
