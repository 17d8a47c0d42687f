/**
 * Calls on a member's REST API, as an operator's script would: JSON bodies, and the cluster's
 * client certificate and API password when it has them (a hardened cluster, PGHA_E2E_HARDENED=1).
 */
import type { MemberHandle } from '@pgha/local-cluster';

export interface ApiAnswer {
  status: number;
  text: string;
}

/** `method path` on the member's API; bounded so that a hung agent fails the test instead of hanging it. */
export function api(member: MemberHandle, method: string, path: string, body?: unknown, timeoutMs = 90_000): Promise<ApiAnswer> {
  return member.request(method, path, body, timeoutMs);
}
