/**
 * Watchdog ioctls from Node. Node has no ioctl, so the three calls pgha needs (GETSUPPORT,
 * SETTIMEOUT, GETTIMEOUT) run in a short-lived helper — Python's `fcntl.ioctl` — that inherits
 * the device's open file descriptor as its fd 3. The agent keeps the descriptor, and all writes
 * (keepalive, magic close) are plain `write`s from Node: the helper runs only when arming or
 * re-timing, never per keepalive, and no native code has to be compiled at install time.
 * ioctls act on the open file description, which parent and helper share, so a timeout set by
 * the helper holds for the agent's descriptor.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { WatchdogSupport } from './device.js';

/** One ioctl step asked of the helper. */
export type IoctlStep = { op: 'getsupport' } | { op: 'settimeout'; seconds: number } | { op: 'gettimeout' };

/** The result of one step: support info, a timeout (seconds), or the OS error that stopped the run. */
export type IoctlResult =
  | { op: 'getsupport'; ok: true; support: WatchdogSupport }
  | { op: 'settimeout' | 'gettimeout'; ok: true; seconds: number }
  | { op: IoctlStep['op']; ok: false; errno: string; message: string };

/** Runs ioctl steps on an open descriptor, in order, stopping at the first failure. */
export interface IoctlRunner {
  run(fd: number, steps: IoctlStep[]): Promise<IoctlResult[]>;
}

/** The helper failed to run at all (not an ioctl failure). */
export class IoctlHelperError extends Error {
  override readonly name = 'IoctlHelperError';
}

// _IOC(dir, type, nr, size) of asm-generic/ioctl.h; a few architectures lay the bits out differently.
function ioc(dir: 'r' | 'rw', nr: number, size: number, arch: string): number {
  const odd = ['mips', 'mipsel', 'mips64', 'mips64el', 'ppc', 'ppc64', 'sparc', 'sparc64'].includes(arch);
  const read = 2;
  const write = odd ? 4 : 1;
  const dirBits = dir === 'r' ? read : read | write;
  const sizeShift = 16;
  const dirShift = odd ? 29 : 30;
  // `>>> 0` keeps the number unsigned (the top bit is set for reads).
  return ((dirBits << dirShift) | (size << sizeShift) | ('W'.charCodeAt(0) << 8) | nr) >>> 0;
}

/** The request numbers of linux/watchdog.h for `arch` (process.arch spelling). */
export function watchdogIoctlNumbers(arch: string = process.arch): { getSupport: number; setTimeout: number; getTimeout: number } {
  // struct watchdog_info is 40 bytes (u32 options, u32 firmware_version, u8 identity[32]).
  return { getSupport: ioc('r', 0, 40, arch), setTimeout: ioc('rw', 6, 4, arch), getTimeout: ioc('r', 7, 4, arch) };
}

const HELPER = String.raw`
import array, errno, fcntl, json, os, struct, sys
fd, support_req, set_req, get_req = 3, int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
out = []
for step in sys.argv[4:]:
    op, _, arg = step.partition(':')
    try:
        if op == 'getsupport':
            buf = bytearray(40)
            fcntl.ioctl(fd, support_req, buf, True)
            options, firmware = struct.unpack_from('=II', buf, 0)
            identity = bytes(buf[8:40]).split(b'\0')[0].decode('utf-8', 'replace')
            out.append({'op': op, 'ok': True, 'support': {'options': options, 'firmwareVersion': firmware, 'identity': identity}})
        else:
            value = array.array('i', [int(arg or 0)])
            fcntl.ioctl(fd, set_req if op == 'settimeout' else get_req, value, True)
            out.append({'op': op, 'ok': True, 'seconds': value[0]})
    except OSError as e:
        out.append({'op': op, 'ok': False, 'errno': errno.errorcode.get(e.errno, str(e.errno)), 'message': os.strerror(e.errno or 0)})
        break
print(json.dumps(out))
`;

/** The interpreter the helper runs with: `PGHA_WATCHDOG_PYTHON`, else the system python3. */
function pythonCommand(): string {
  const configured = process.env['PGHA_WATCHDOG_PYTHON'];
  if (configured) return configured;
  // The system interpreter first: the agent's user may not reach a per-user install on PATH.
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/** Runs the steps in a Python helper; bounded by `timeoutMs` (default 5 s). */
export function pythonIoctlRunner(options: { python?: string; timeoutMs?: number } = {}): IoctlRunner {
  return {
    run(fd, steps) {
      const python = options.python ?? pythonCommand();
      const numbers = watchdogIoctlNumbers();
      const args = [
        '-c',
        HELPER,
        String(numbers.getSupport),
        String(numbers.setTimeout),
        String(numbers.getTimeout),
        ...steps.map((s) => (s.op === 'settimeout' ? `settimeout:${Math.trunc(s.seconds)}` : s.op)),
      ];
      return new Promise((resolve, reject) => {
        const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe', fd] });
        let stdout = '';
        let stderr = '';
        child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 5000);
        child.on('error', (e) => {
          clearTimeout(timer);
          reject(new IoctlHelperError(`cannot run ${python} to issue watchdog ioctls: ${e.message} (set PGHA_WATCHDOG_PYTHON to a python3)`));
        });
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          if (code !== 0) {
            const why = signal ? `killed by ${signal} (timed out?)` : `exit code ${code}`;
            reject(new IoctlHelperError(`watchdog ioctl helper (${python}) failed: ${why}${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`));
            return;
          }
          try {
            resolve(JSON.parse(stdout) as IoctlResult[]);
          } catch {
            reject(new IoctlHelperError(`watchdog ioctl helper (${python}) printed no result: ${stdout.slice(0, 200)}`));
          }
        });
      });
    },
  };
}
