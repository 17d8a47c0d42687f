/** Calls on a member's REST API, as an operator's script would (plain fetch, JSON bodies). */
import type { MemberHandle } from '@pgha/local-cluster';

export interface ApiAnswer {
  status: number;
  text: string;
}

/** `method path` on the member's API; bounded so that a hung agent fails the test instead of hanging it. */
export async function api(member: MemberHandle, method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  const res = await fetch(`${member.apiUrl}${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } } : {}),
    signal: AbortSignal.timeout(90_000),
  });
  return { status: res.status, text: await res.text() };
}
