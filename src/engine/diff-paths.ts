import { longestPrefix } from '../lib/paths.js';
import type { TransformName } from '../policy/schema.js';
import type { CompiledResource, CompiledView } from './compile.js';

/**
 * Field paths as both sides of a diff see them. A side's compiled paths are
 * the declared ones and those its policies name (`name.family` in a
 * transform); a path only the other side names is still carried here when
 * its nearest named ancestor is, since a field grants its whole subtree.
 * Comparing only the paths both sides name would miss a transform removed
 * from a path nothing else names: the path leaves the compiled set, and its
 * values go out in clear under the parent.
 */

/** Every path either side's resource names, sorted. */
export function pathUnion(a: CompiledResource | undefined, b: CompiledResource | undefined): string[] {
  return [...new Set([...(a?.paths ?? []), ...(b?.paths ?? [])])].sort();
}

/**
 * Whether `mask` carries `path` on this side: through the path itself or its
 * nearest named ancestor; in a view that copies declared paths only (a
 * purpose that is not identifiable), only through the path itself.
 *
 * @example
 * carries(resource, grant.read, 'name.family'); // true when the grant reads `name`
 */
export function carries(resource: CompiledResource, mask: bigint, path: string, declaredOnly = false): boolean {
  const at = declaredOnly ? (resource.bits.has(path) ? path : undefined) : longestPrefix(resource.paths, path);
  return at !== undefined && (mask & resource.bits.get(at)!) !== 0n;
}

/** The transform a view applies to `path`: its own, or that of its nearest named ancestor. */
export function transformOf(view: CompiledView, path: string): TransformName | undefined {
  const at = longestPrefix(view.resource.paths, path);
  return at === undefined ? undefined : view.transforms.get(at);
}
