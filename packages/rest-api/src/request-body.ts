/**
 * Reading an unsafe request's JSON body: bounded in size, in nesting depth and in time. A body
 * still incomplete after the deadline gets 408, so a client that sends it a byte at a time
 * cannot hold a processing slot (server.ts reads the body before taking one).
 */
import type { IncomingMessage } from 'node:http';
import { jsonNestingDepth, MAX_JSON_DEPTH } from '@pgha/dcs';
import type { ApiAnswer } from './switchover.js';

export type BodyRead = { body: Record<string, unknown> } | { answer: ApiAnswer };

export function createBodyReader(limits: { maxBytes: number; timeoutMs: number }): (req: IncomingMessage) => Promise<BodyRead> {
  const { maxBytes, timeoutMs } = limits;
  const tooLarge = { answer: { status: 413, text: `request body larger than ${maxBytes} bytes` } };

  const parse = async (req: IncomingMessage): Promise<BodyRead> => {
    const length = req.headers['content-length'];
    if (length === undefined && req.headers['transfer-encoding'] === undefined) return { answer: { status: 411, text: 'Length Required' } };
    if (length !== undefined && Number(length) > maxBytes) return tooLarge;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) return tooLarge;
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') return { body: {} };
    // Handlers serialise what they are given (into the DCS, into logs): a deep body would throw there.
    if (jsonNestingDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) return { answer: { status: 400, text: `Bad Request: request body nested deeper than ${MAX_JSON_DEPTH} levels` } };
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return { answer: { status: 400, text: 'Bad Request: request body must be a JSON object' } };
      return { body: value as Record<string, unknown> };
    } catch {
      return { answer: { status: 400, text: 'Bad Request: request body is not valid JSON' } };
    }
  };

  return async (req) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<BodyRead>((resolve) => {
      timer = setTimeout(() => resolve({ answer: { status: 408, text: `Request Timeout: the request body did not arrive within ${timeoutMs / 1000} s` } }), timeoutMs);
    });
    const parsing = parse(req);
    // After a 408 the request is destroyed and the unfinished read fails: nobody awaits it then.
    parsing.catch(() => {});
    try {
      return await Promise.race([parsing, late]);
    } finally {
      clearTimeout(timer);
    }
  };
}
