import type { AuditEvent } from './event.js';

/*
 * One stored audit event as a FHIR R4 AuditEvent resource, for a SIEM or a
 * FHIR audit repository, following the IHE Basic Audit Log Patterns (BALP)
 * where they fit: a record API's read, create or update is a RESTful
 * operation; the user is the requesting agent; fieldmesh, which decided,
 * is the server agent and the observer; each record is an entity; the
 * declared purpose is purposeOfEvent. Everything else fieldmesh records
 * (its place in the chain, the policy version, the names of the fields
 * disclosed and withheld, transforms, restrictions) travels in one
 * extension, so nothing the trail holds is lost. No profile is claimed.
 * Pure: no I/O, no clock.
 */

/** A Coding, as R4 defines it (only what this mapping writes). */
export interface FhirCoding {
  system: string;
  code: string;
  display?: string;
}

/** A FHIR extension, simple (one value) or complex (nested extensions). */
export interface FhirExtension {
  url: string;
  valueString?: string;
  valueInteger?: number;
  extension?: FhirExtension[];
}

interface FhirCodeableConcept {
  coding?: FhirCoding[];
  text?: string;
}

interface FhirReference {
  reference?: string;
  identifier?: { system?: string; value: string };
  display?: string;
}

/**
 * The R4 AuditEvent elements this mapping writes.
 *
 * @example
 * const r: FhirAuditEvent = toFhirAuditEvent(event);
 * r.resourceType; // 'AuditEvent'
 */
export interface FhirAuditEvent {
  resourceType: 'AuditEvent';
  id: string;
  extension: FhirExtension[];
  type: FhirCoding;
  subtype?: FhirCoding[];
  action: 'C' | 'R' | 'U' | 'D' | 'E';
  recorded: string;
  outcome: '0' | '4' | '8' | '12';
  outcomeDesc?: string;
  purposeOfEvent?: FhirCodeableConcept[];
  agent: {
    type: FhirCodeableConcept;
    role?: FhirCodeableConcept[];
    who: FhirReference;
    requestor: boolean;
  }[];
  source: { site?: string; observer: FhirReference; type: FhirCoding[] };
  entity?: {
    what: FhirReference;
    type?: FhirCoding;
    role?: FhirCoding;
    description?: string;
    detail?: { type: string; valueString: string }[];
  }[];
}

/** The extension holding what fieldmesh records beyond the AuditEvent elements. */
export const FIELDMESH_EXTENSION = 'urn:fieldmesh:fhir:StructureDefinition:audit-event';
/** The system of record ids as the trail stores them (keyed pseudonyms on a trail that pseudonymises them). */
export const RECORD_ID_SYSTEM = 'urn:fieldmesh:record-id';
/**
 * The system of the ids of the people records are about (`subjectIds`), as
 * the trail stores them: pseudonymised with the record-id key, as record ids
 * are, on a trail that pseudonymises. Which resource holds the person is not
 * recorded, so a subject is named by identifier, not by reference.
 */
export const SUBJECT_ID_SYSTEM = 'urn:fieldmesh:subject-id';
/** The system of the user ids (JWT `sub`) and reviewer names in `agent.who.identifier`. */
export const USER_SYSTEM = 'urn:fieldmesh:user';
/** The system of role names in `agent.role`. */
export const ROLE_SYSTEM = 'urn:fieldmesh:role';
/** The system of fieldmesh's own action codes, for the events that are no RESTful operation (review, and reads of the trail). */
export const ACTION_SYSTEM = 'urn:fieldmesh:audit-action';

const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
const DICOM = 'http://dicom.nema.org/resources/ontology/DCM';
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';
const SECURITY_ROLE_TYPE = 'http://terminology.hl7.org/CodeSystem/extra-security-role-type';
/** FHIR `integer` is 32-bit: a seq beyond it goes as a string. */
const MAX_INTEGER = 2_147_483_647;

/**
 * What the resource says of the system that decided.
 *
 * @example
 * toFhirAuditEvent(event, { observer: 'fieldmesh@ward-7-gateway' });
 */
export interface FhirAuditOptions {
  /** Names fieldmesh as the observer and the server agent (default `fieldmesh`). */
  observer?: string | undefined;
}

/**
 * Maps one stored event to an R4 AuditEvent:
 *
 * - `type` `rest` with subtype `read`/`create`/`update` for a record API's
 *   request; a trail read is DICOM `110106` Export or `110112` Query, and a
 *   guardian's review fieldmesh's own `review` code;
 * - `action` R/C/U for reads and writes, R for an export, E for a query or
 *   report, C for a review (it creates the review);
 * - `outcome` `0` when disclosed, `4` when refused with a 4xx status (the
 *   request was refused by policy or malformed), `8` when refused with any
 *   other status (the audit trail or the upstream failed);
 * - agent 1: the user (`who.identifier` the `sub`, `requestor: true`, a role
 *   per role that took part); agent 2: fieldmesh (`requestor: false`);
 * - entity per record disclosed (`what.reference` `Type/id` for a record
 *   API's request, and `what.identifier` the id as stored), per record
 *   withheld (described `withheld`), per person the records are about
 *   (`subjectIds`: type Person, role Patient, `what.identifier` the id as
 *   stored; `withheldSubjectIds` described `withheld`), and the event a
 *   review acknowledges;
 * - purposeOfEvent: the declared purpose as text; for break-glass, a second
 *   entry coded ETREAT and BTG whose text is the declared reason.
 *
 * @example
 * const line = JSON.stringify(toFhirAuditEvent(event));
 */
export function toFhirAuditEvent(e: AuditEvent, options: FhirAuditOptions = {}): FhirAuditEvent {
  const observer = options.observer ?? 'fieldmesh';
  const rest = e.action === 'read' || e.action === 'create' || e.action === 'update';
  const resource: FhirAuditEvent = {
    resourceType: 'AuditEvent',
    id: e.id,
    extension: [fieldmeshExtension(e)],
    type: eventType(e.action),
    action: ACTIONS[e.action],
    recorded: e.time,
    outcome: e.decision === 'disclosed' ? '0' : e.status >= 400 && e.status < 500 ? '4' : '8',
    agent: [
      {
        type: { coding: [{ system: SECURITY_ROLE_TYPE, code: 'humanuser', display: 'human user' }] },
        ...(e.roles.length > 0 ? { role: e.roles.map((r) => ({ coding: [{ system: ROLE_SYSTEM, code: r }], text: r })) } : {}),
        who: { identifier: { system: USER_SYSTEM, value: e.user } },
        requestor: true,
      },
      {
        type: { coding: [{ system: DICOM, code: '110152', display: 'Destination Role ID' }] },
        who: { display: observer },
        requestor: false,
      },
    ],
    source: {
      site: e.chain,
      observer: { display: observer },
      type: [{ system: SOURCE_TYPE, code: '4', display: 'Application Server' }],
    },
  };
  const purposeOfEvent = purposes(e);
  if (purposeOfEvent.length > 0) resource.purposeOfEvent = purposeOfEvent;
  if (rest) resource.subtype = [{ system: RESTFUL_INTERACTION, code: e.action }];
  if (e.decision === 'refused' && e.code !== undefined) resource.outcomeDesc = e.code;
  const entities = [
    ...e.recordIds.map((id) => recordEntity(e, id, rest, undefined)),
    ...e.withheldRecordIds.map((id) => recordEntity(e, id, rest, 'withheld')),
    ...(e.subjectIds ?? []).map((id) => subjectEntity(id, undefined)),
    ...(e.withheldSubjectIds ?? []).map((id) => subjectEntity(id, 'withheld')),
  ];
  if (e.review !== undefined) {
    entities.push({
      what: { reference: `AuditEvent/${e.review.of}` },
      role: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
      description: 'the break-glass event reviewed',
    });
  }
  if (entities.length > 0) resource.entity = entities;
  return resource;
}

const ACTIONS: Record<AuditEvent['action'], FhirAuditEvent['action']> = {
  read: 'R',
  create: 'C',
  update: 'U',
  review: 'C',
  query: 'E',
  report: 'E',
  export: 'R',
  archive: 'E',
};

function eventType(action: AuditEvent['action']): FhirCoding {
  switch (action) {
    case 'read':
    case 'create':
    case 'update':
      return { system: AUDIT_EVENT_TYPE, code: 'rest', display: 'RESTful Operation' };
    case 'export':
      return { system: DICOM, code: '110106', display: 'Export' };
    case 'query':
    case 'report':
      return { system: DICOM, code: '110112', display: 'Query' };
    case 'review':
      return { system: ACTION_SYSTEM, code: 'review', display: "A guardian's review of a break-glass event" };
    case 'archive':
      return { system: ACTION_SYSTEM, code: 'archive', display: 'The beginning of the chain moved into an archive file' };
  }
}

function purposes(e: AuditEvent): FhirCodeableConcept[] {
  const list: FhirCodeableConcept[] = e.purpose === '' ? [] : [{ text: e.purpose }];
  if (e.breakGlass !== undefined) {
    list.push({
      coding: [
        { system: ACT_REASON, code: 'ETREAT', display: 'Emergency Treatment' },
        { system: ACT_REASON, code: 'BTG', display: 'break the glass' },
      ],
      text: e.breakGlass,
    });
  }
  return list;
}

function recordEntity(
  e: AuditEvent,
  id: string,
  rest: boolean,
  description: string | undefined,
): NonNullable<FhirAuditEvent['entity']>[number] {
  const entity: NonNullable<FhirAuditEvent['entity']>[number] = {
    what: rest
      ? { reference: `${e.resource}/${id}`, identifier: { system: RECORD_ID_SYSTEM, value: id } }
      : { identifier: { system: RECORD_ID_SYSTEM, value: id } },
    role: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
  };
  if (description !== undefined) entity.description = description;
  return entity;
}

/** A person the event's records are about, as BALP's patient entity, named by identifier (the resource holding them is not recorded). */
function subjectEntity(id: string, description: string | undefined): NonNullable<FhirAuditEvent['entity']>[number] {
  const entity: NonNullable<FhirAuditEvent['entity']>[number] = {
    what: { identifier: { system: SUBJECT_ID_SYSTEM, value: id } },
    type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
    role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
  };
  if (description !== undefined) entity.description = description;
  return entity;
}

/**
 * fieldmesh's own fields, so the resource loses nothing the trail holds:
 * chain, seq, hash, prevHash, requestId, status, code, policyVersion, the
 * names of the fields disclosed and withheld, transforms (on a read of the
 * trail, its scope as `scope`), restrictions, grants, the break-glass reason and a
 * review's reviewer and note. Lists repeat their sub-extension; absent
 * fields are left out.
 */
function fieldmeshExtension(e: AuditEvent): FhirExtension {
  const str = (url: string, value: string): FhirExtension => ({ url, valueString: value });
  const parts: FhirExtension[] = [
    str('chain', e.chain),
    e.seq <= MAX_INTEGER ? { url: 'seq', valueInteger: e.seq } : str('seq', String(e.seq)),
    str('hash', e.hash),
    str('prevHash', e.prevHash),
    str('requestId', e.requestId),
    { url: 'status', valueInteger: e.status },
  ];
  if (e.code !== undefined) parts.push(str('code', e.code));
  if (e.policyVersion !== '') parts.push(str('policyVersion', e.policyVersion));
  for (const f of e.fieldsDisclosed) parts.push(str('fieldDisclosed', f));
  for (const f of e.fieldsWithheld) parts.push(str('fieldWithheld', f));
  // On a read of the trail the map holds the read's scope (see trail-read.ts), not transforms.
  const read = e.action === 'query' || e.action === 'report' || e.action === 'export';
  for (const [name, value] of Object.entries(e.transforms)) {
    parts.push(
      read
        ? { url: 'scope', extension: [str('name', name), str('value', value)] }
        : { url: 'transform', extension: [str('field', name), str('transform', value)] },
    );
  }
  for (const r of e.restrictions) parts.push(str('restriction', r));
  for (const g of e.grants) parts.push(str('grant', g));
  if (e.breakGlass !== undefined) parts.push(str('breakGlass', e.breakGlass));
  if (e.review !== undefined) parts.push(str('reviewBy', e.review.by), str('reviewNote', e.review.note));
  // FHIR strings are never empty: an empty value (a requestId the caller left blank) is left out.
  return { url: FIELDMESH_EXTENSION, extension: parts.filter((x) => x.valueString !== '') };
}
