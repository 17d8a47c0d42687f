/**
 * What a browser may send on a hostile page's behalf, refused before access control (#16):
 *
 * - A page open in an operator's browser can POST to the API (`fetch(..., { mode: 'no-cors' })`,
 *   a form). Browsers mark such requests: `Sec-Fetch-Site: cross-site` / `same-site`, and an
 *   `Origin` header naming the page. Neither `patronictl` nor `pghactl` sends either, so an
 *   unsafe request whose Origin is not this API's own host, or which a browser calls cross-site,
 *   is refused (403).
 * - A body must be JSON: a `Content-Type` other than `application/json` (or `…+json`) is refused
 *   (415), so an HTML form or a `text/plain` beacon is never read as a command. A body without a
 *   Content-Type is accepted, because `patronictl` 3.x sends its JSON without one; the two
 *   browser markers above cover such requests from a browser.
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface Refusal {
  status: 403 | 415;
  text: string;
}

const SAME_SITE_FETCH = new Set(['same-origin', 'none']);

/** A request a browser sent from another site, or null. */
export function crossSiteRefusal(headers: IncomingHttpHeaders): Refusal | null {
  const fetchSite = headers['sec-fetch-site'];
  if (typeof fetchSite === 'string' && !SAME_SITE_FETCH.has(fetchSite.toLowerCase())) {
    return { status: 403, text: `cross-site request refused (Sec-Fetch-Site: ${fetchSite})` };
  }
  const origin = headers.origin;
  if (typeof origin === 'string') {
    let host: string | null;
    try {
      host = new URL(origin).host.toLowerCase();
    } catch {
      host = null;
    }
    if (host === null || host !== (headers.host ?? '').toLowerCase()) return { status: 403, text: `cross-site request refused (Origin: ${origin.slice(0, 100)})` };
  }
  return null;
}

/** A body that does not say it is JSON, or null (no body, JSON, or no Content-Type at all). */
export function contentTypeRefusal(headers: IncomingHttpHeaders): Refusal | null {
  const length = headers['content-length'];
  const hasBody = headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  const type = headers['content-type'];
  if (!hasBody || type === undefined) return null;
  const media = type.split(';')[0]!.trim().toLowerCase();
  if (media === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(media)) return null;
  return { status: 415, text: `Unsupported Media Type: management requests take application/json, not ${media.slice(0, 100) || 'an empty type'}` };
}
