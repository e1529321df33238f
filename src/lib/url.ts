/**
 * An absolute http:// or https:// URL: what a record API, a key set or a
 * webhook may be. Any other scheme (file:, ftp:, a bare host) is refused
 * where it is configured, not when it is first called.
 *
 * @example
 * isHttpUrl('https://guardian.example/hook'); // true
 * isHttpUrl('guardian.example/hook'); // false
 */
export function isHttpUrl(url: string): boolean {
  return URL.canParse(url) && /^https?:$/.test(new URL(url).protocol);
}

/**
 * What is wrong with a break-glass webhook URL, or `undefined`: the one rule
 * for the gateway's configuration and `withBreakGlassAlert`. It must be
 * http(s), and may not hold `user:password@`: userinfo is not sent as Basic
 * auth, so a credential there would be silently dropped; a receiver's token
 * goes in the URL's path or query. The problem never quotes the URL.
 *
 * @example
 * webhookUrlProblem('https://hook:t0ken@guardian.example/alert'); // 'must not hold user:password@ …'
 * webhookUrlProblem('https://guardian.example/alert?token=t0ken'); // undefined
 */
export function webhookUrlProblem(url: string): string | undefined {
  if (!isHttpUrl(url)) return 'must be an http:// or https:// URL';
  const u = new URL(url);
  if (u.username !== '' || u.password !== '')
    return "must not hold user:password@ (userinfo is not sent): put the receiver's token in the URL's path or query";
  return undefined;
}

/**
 * What is wrong with the gateway's public URL (`--public-url`), or
 * `undefined`. It is the base every link the gateway writes starts with, so
 * it must be an absolute http(s) URL with no `user:password@` (a credential
 * would be handed to every client), and no query or fragment (a link's own
 * query follows its path). A path is allowed: a gateway mounted under
 * `/fhir` behind a reverse proxy. The problem never quotes the URL.
 *
 * @example
 * publicUrlProblem('https://records.example/fhir'); // undefined
 * publicUrlProblem('https://records.example/?x=1'); // 'must not hold a query (?…) or a fragment (#…): …'
 */
export function publicUrlProblem(url: string): string | undefined {
  if (!isHttpUrl(url)) return 'must be an http:// or https:// URL';
  const u = new URL(url);
  if (u.username !== '' || u.password !== '') return 'must not hold user:password@ (every link the gateway writes starts with it)';
  // Checked on the text: `https://host/?` parses to an empty query, but it was written.
  if (url.includes('?') || url.includes('#'))
    return "must not hold a query (?…) or a fragment (#…): it is the base each link's own path and query follow";
  return undefined;
}
