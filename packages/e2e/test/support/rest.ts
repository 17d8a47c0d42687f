/**
 * Calls on a member's REST API, as an operator's script would: JSON bodies, and the cluster's
 * client certificate and API password when it has them (a hardened cluster, PGHA_E2E_HARDENED=1).
 */
import type { ApiAnswer, MemberHandle } from '@pgha/local-cluster';

export type { ApiAnswer };

/**
 * `method path` on the member's API: status and body, which tests compare whole. Bounded so
 * that a hung agent fails the test instead of hanging it. (member.request gives the headers too.)
 */
export async function api(member: MemberHandle, method: string, path: string, body?: unknown, timeoutMs = 90_000): Promise<{ status: number; text: string }> {
  const { status, text } = await member.request(method, path, body, timeoutMs);
  return { status, text };
}

/** GET `path` as JSON; the status must be 200 (the answer is part of the test's claim). */
export async function apiJson<T>(member: MemberHandle, path: string, timeoutMs = 90_000): Promise<T> {
  const answer = await member.request('GET', path, undefined, timeoutMs);
  if (answer.status !== 200) throw new Error(`GET ${path} on ${member.name}: ${answer.status} ${answer.text}`);
  return JSON.parse(answer.text) as T;
}
