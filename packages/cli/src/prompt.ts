/**
 * Interactive questions, asked the way click asks them (`Candidate ['pg1', 'pg2'] []: `,
 * `Are you sure ...? [y/N]: `). Answers are read line by line from stdin whether or not it is a
 * terminal, so piped answers work as with patronictl; when stdin ends before an answer comes the
 * command fails with a clear error instead of waiting.
 */
import { CliError, CliErrorCode } from './errors.js';

export interface Prompter {
  /** Asks for a value; an empty answer takes `default` (asked again when there is none). */
  prompt(text: string, options?: { default?: string; hidden?: boolean }): Promise<string>;
  /** Asks a yes/no question, `[y/N]` (or `[Y/n]` with `defaultYes`). */
  confirm(text: string, defaultYes?: boolean): Promise<boolean>;
}

export interface PromptIo {
  input: NodeJS.ReadableStream;
  write(text: string): void;
  /** When stdin is a terminal, hidden answers (passwords) are not echoed. */
  inputIsTTY: boolean;
}

/** Reads stdin one line at a time, buffering what arrives beyond the line asked for. */
function createLineReader(input: NodeJS.ReadableStream): () => Promise<string | null> {
  let buffer = '';
  let ended = false;
  let waiting: (() => void) | null = null;
  let attached = false;
  const wake = (): void => {
    const w = waiting;
    waiting = null;
    w?.();
  };
  const attach = (): void => {
    if (attached) return;
    attached = true;
    input.setEncoding?.('utf8');
    input.on('data', (chunk: string | Buffer) => {
      buffer += chunk.toString();
      wake();
    });
    input.on('end', () => {
      ended = true;
      wake();
    });
    input.on('error', () => {
      ended = true;
      wake();
    });
  };
  return async () => {
    attach();
    input.resume();
    for (;;) {
      const nl = buffer.indexOf('\n');
      if (nl !== -1) {
        const line = buffer.slice(0, nl).replace(/\r$/, '');
        buffer = buffer.slice(nl + 1);
        // Let the process exit once no more answers are needed.
        input.pause();
        return line;
      }
      if (ended) {
        if (buffer === '') return null;
        const line = buffer;
        buffer = '';
        return line;
      }
      await new Promise<void>((r) => (waiting = r));
    }
  };
}

export function createPrompter(io: PromptIo): Prompter {
  const readLine = createLineReader(io.input);
  const noInput = (text: string): CliError =>
    new CliError(
      CliErrorCode.Aborted,
      `Aborted: '${text.trim()}' needs an answer but stdin is closed; answer on stdin, give the value as an option or use --force`,
    );

  async function ask(text: string, hidden: boolean): Promise<string> {
    io.write(text);
    const raw = io.inputIsTTY && hidden ? await readHidden(io) : await readLine();
    if (raw === null) {
      io.write('\n');
      throw noInput(text);
    }
    if (hidden && io.inputIsTTY) io.write('\n');
    return raw;
  }

  return {
    async prompt(text, options = {}) {
      const suffix = options.default !== undefined && !options.hidden ? ` [${options.default}]: ` : ': ';
      for (;;) {
        const answer = (await ask(text + suffix, options.hidden === true)).trim();
        if (answer !== '') return answer;
        if (options.default !== undefined) return options.default;
      }
    },
    async confirm(text, defaultYes = false) {
      for (;;) {
        const answer = (await ask(`${text} ${defaultYes ? '[Y/n]' : '[y/N]'}: `, false)).trim().toLowerCase();
        if (answer === '') return defaultYes;
        if (answer === 'y' || answer === 'yes') return true;
        if (answer === 'n' || answer === 'no') return false;
        io.write('Error: invalid input\n');
      }
    },
  };
}

/** A password from a terminal: raw mode, no echo, until Enter. */
function readHidden(io: PromptIo): Promise<string | null> {
  const input = io.input as NodeJS.ReadStream;
  return new Promise((resolveLine) => {
    let text = '';
    input.setRawMode?.(true);
    input.resume();
    const onData = (chunk: Buffer | string): void => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n') return finish(text);
        if (ch === '\u0003' || ch === '\u0004') return finish(null);
        if (ch === '\u007f') text = text.slice(0, -1);
        else text += ch;
      }
    };
    const finish = (value: string | null): void => {
      input.off('data', onData);
      input.setRawMode?.(false);
      input.pause();
      resolveLine(value);
    };
    input.on('data', onData);
  });
}
