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
