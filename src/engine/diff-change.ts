/** One entry of a policy diff (engine/diff.ts): its kind, effect and scope. */

/**
 * `widening`: someone may see more (a field, a row, a purpose, an identifying
 * form of a value) or the change cannot be proved harmless. `narrowing`: less.
 * `neutral`: worth reading, changes no access.
 */
export type ChangeEffect = 'widening' | 'narrowing' | 'neutral';

export type ChangeKind =
  // per role, purpose and resource (`action` says read, update or create)
  | 'fields-gained'
  | 'fields-lost'
  | 'condition-added'
  | 'condition-removed'
  | 'condition-changed'
  // per purpose and resource: the view, the most a purpose may carry
  | 'view-added'
  | 'view-removed'
  | 'view-fields-gained'
  | 'view-fields-lost'
  | 'transform-added'
  | 'transform-removed'
  | 'transform-changed'
  // per purpose
  | 'purpose-added'
  | 'purpose-removed'
  | 'purpose-expired'
  | 'purpose-redated'
  | 'purpose-changed'
  // per resource
  | 'restriction-added'
  | 'restriction-removed'
  | 'restriction-withholds-less'
  | 'restriction-withholds-more'
  | 'restriction-when-changed'
  // per restriction, purpose and role: the grants through which `unless` exempts the role (diff-exemptions.ts)
  | 'exemption-added'
  | 'exemption-removed'
  | 'resource-added'
  | 'resource-removed'
  | 'resource-changed'
  | 'field-declared'
  | 'field-undeclared'
  | 'field-reclassified'
  // the set as a whole
  | 'lint-worse';

export type DiffAction = 'read' | 'update' | 'create';

/** One change, with the scope it applies to: what a reviewer reads as one line. */
export interface PolicyChange {
  kind: ChangeKind;
  effect: ChangeEffect;
  /**
   * Set on a widening the tool could not prove: a row condition that
   * changed in a way that may match more rows, or a restriction's `when`
   * changed other than removed (it may fire on fewer records or for fewer users).
   * Counted as widening until a person has read it.
   */
  reviewNeeded?: true;
  resource?: string;
  purpose?: string;
  role?: string;
  action?: DiffAction;
  restriction?: string;
  /** Field paths the change is about. */
  fields?: string[];
  /** What it was and what it becomes: conditions (`{}` is every row), transforms, dates, classes, lists. */
  before?: unknown;
  after?: unknown;
  /** One line for people; names fields, roles and policy text, never record values (there are none here). */
  message: string;
}
