/**
 * How a record API reads its query keys: which keys only page, and which
 * fields every other key filters or sorts by. The filter rule itself
 * (`checkEntries`, src/engine/query-check.ts) is the same for every record
 * API; only this reading differs (json-server's `dateOfBirth_gte`, FHIR's
 * `birthdate=ge1980`, see src/fhir/search.ts).
 */

/**
 * One thing a query key asks of the record API, named as a refusal shows it
 * (`_sort=-name` names `_sort=name`): the fields it reads, or why it is
 * refused whatever the policy says (a FHIR `_include`, a chained parameter).
 * A key that reads nothing (FHIR's `_pretty`) has no reading at all.
 *
 * @example
 * const reading: KeyReading = { name: 'birthdate', fields: ['birthDate'] };
 */
export type KeyReading = { name: string; fields: readonly string[] } | { name: string; refused: string };

/**
 * A record API's query language, as far as the filter rule needs it.
 *
 * @example
 * const dialect: QueryDialect = { pagingKeys: ['_count'], fieldsOf: (key) => [{ name: key, fields: [key] }] };
 */
export interface QueryDialect {
  /** Query keys that page through rows without looking at any field. */
  readonly pagingKeys: readonly string[];
  /** The query key that looks records up by id, when it is not the resource's id path (FHIR's `_id`): a refusal names the records it asked for. */
  readonly idKey?: string | undefined;
  /** What a key that is not a paging key reads: one reading per thing it asks (a sort names several fields), none when it reads nothing. */
  fieldsOf(key: string, values: readonly string[]): readonly KeyReading[];
}

/**
 * Query keys that page through rows without looking at any field, allowed
 * for everyone (json-server, FHIR and common REST spellings).
 *
 * @example
 * admit(req, 'Patient', 'read', { policies, verifier, pagingKeys: [...DEFAULT_PAGING_KEYS, 'pageToken'] });
 */
export const DEFAULT_PAGING_KEYS: readonly string[] = [
  '_page',
  '_limit',
  '_count',
  '_offset',
  '_start',
  '_end',
  'page',
  'limit',
  'offset',
  'cursor',
];
/** Query keys whose values name the fields rows are sorted by. */
const SORT_KEYS = new Set(['_sort', 'sort', '_order']);
/** json-server operators: `dateOfBirth_gte` filters by `dateOfBirth`. */
const OPERATOR = /_(like|ne|gte|lte)$/;

/**
 * The default reading, json-server's and most REST APIs': a key is the field
 * it filters by (`nhsNumber`, `dateOfBirth_gte`), sort keys name fields in
 * their values (`_sort=-name`), and the given keys page.
 *
 * @example
 * jsonDialect().fieldsOf('dateOfBirth_gte', ['1980-01-01']); // [{ name: 'dateOfBirth_gte', fields: ['dateOfBirth'] }]
 * jsonDialect().fieldsOf('_sort', ['-name,gender']);         // [{ name: '_sort=name', … }, { name: '_sort=gender', … }]
 */
export function jsonDialect(pagingKeys: readonly string[] = DEFAULT_PAGING_KEYS): QueryDialect {
  return {
    pagingKeys,
    fieldsOf(key, values) {
      if (!SORT_KEYS.has(key)) return [{ name: key, fields: [key.replace(OPERATOR, '')] }];
      const fields = sortFields(key, values);
      // A sort that names nothing still asks the record API to order rows: it counts as a filter.
      return fields.length === 0 ? [{ name: key, fields: [] }] : fields.map((field) => ({ name: `${key}=${field}`, fields: [field] }));
    },
  };
}

/** Field names in sort values: `a,-b`, `+c`, `d:desc`. `_order` also takes the directions asc and desc. */
function sortFields(key: string, values: readonly string[]): string[] {
  const fields = values
    .flatMap((v) => v.split(','))
    .map((f) =>
      f
        .trim()
        .replace(/^[+-]/, '')
        .replace(/[: ](asc|desc)$/i, ''),
    );
  return fields.filter((f) => f !== '' && !(key === '_order' && /^(asc|desc)$/i.test(f)));
}
