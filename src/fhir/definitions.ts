import { R4 } from './r4-definitions.js';
import type { R4Definitions } from './r4-types.js';

export type { R4Definitions, R4SearchParam, R4Type } from './r4-types.js';

let resourceTypes: Set<string> | undefined;

/**
 * Whether a name is an R4 resource type.
 *
 * @example
 * isResourceType('Observation'); // true
 * isResourceType('patients');    // false
 */
export function isResourceType(name: string): boolean {
  resourceTypes ??= new Set(R4.resourceTypes);
  return resourceTypes.has(name);
}

/**
 * The R4 definitions table.
 *
 * @example
 * r4().search['Patient']?.['birthdate']?.paths; // ['birthDate']
 */
export function r4(): R4Definitions {
  return R4;
}
