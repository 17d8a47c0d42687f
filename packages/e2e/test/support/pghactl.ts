/** Runs the real pghactl as an operator would: from its build when current, else its sources (PGHA_AGENT_FROM). */
import { spawn } from 'node:child_process';
import { REPO_ROOT, agentFrom, binArgs, runsFromDist, type MemberHandle } from '@pgha/local-cluster';

/** Runs pghactl against the member's DCS (read from its YAML); fails after 60 s rather than hang. */
export function pghactl(member: MemberHandle, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...binArgs('cli', REPO_ROOT, runsFromDist(agentFrom(), REPO_ROOT)), '-c', member.configPath, ...args], {
      env: { ...process.env, HOME: '/nonexistent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pghactl ${args.join(' ')} did not finish within 60 s\n${stdout}\n${stderr}`));
    }, 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
