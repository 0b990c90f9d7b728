// Per-file service fixture for node:test: starts one service instance before
// the file's tests and stops every client and the service afterwards.
//
// If the service dies during a test (crash), that test fails with the exit
// signal and the tail of the service output, and a fresh instance is started
// for the next test, so one crash does not hide every later result.

import { before, after, beforeEach, afterEach } from 'node:test';
import { startService } from './service.mjs';
import { stopAllClients } from './client.mjs';

function dead(svc) {
  return svc && svc.proc && (svc.proc.exitCode !== null || svc.proc.signalCode !== null);
}

/** True if the (locally started) service has died; probes health so a crash
 * that has not been reaped yet is noticed too. */
async function checkDead(svc) {
  if (!svc || !svc.proc) return false;
  if (dead(svc)) return true;
  try {
    const r = await fetch(`${svc.url}/api/health`, { signal: AbortSignal.timeout(2000) });
    await r.arrayBuffer();
    return false;
  } catch {
    // unreachable: give the exit event a moment to arrive
    await Promise.race([svc.exited, new Promise((res) => setTimeout(res, 1000))]);
    return dead(svc);
  }
}

/**
 * const ctx = useService(); ... ctx.svc inside tests.
 * @param {{keys?: string[], args?: string[]}} opts
 */
export function useService(opts = {}) {
  const ctx = { svc: null, crashes: 0 };
  before(async () => {
    ctx.svc = await startService(opts);
  });
  beforeEach(async () => {
    if (dead(ctx.svc)) {
      await stopAllClients();
      ctx.svc = await startService(opts);
    }
  });
  afterEach(async (t) => {
    if (ctx.svc && !ctx.svc.reported && await checkDead(ctx.svc)) {
      ctx.svc.reported = true;
      ctx.crashes += 1;
      const p = ctx.svc.proc;
      const tail = ctx.svc.output.join('').split('\n').slice(-15).join('\n');
      const text = `hubcast-service died during test "${t?.name}" (exit code ${p.exitCode}, signal ${p.signalCode}); output tail:\n${tail}`;
      // If the test itself already failed, node:test drops this hook's error:
      // make the crash visible anyway.
      process.stderr.write(`\n!!! ${text}\n`);
      t?.diagnostic?.(text.split('\n')[0]);
      throw new Error(text);
    }
  });
  after(async () => {
    await stopAllClients();
    if (!ctx.svc || !ctx.svc.proc) return;
    const r = await ctx.svc.stop();
    // A graceful SIGTERM shutdown must exit 0, and a sanitizer build must not
    // report anything (leaks included) on the way out.
    const out = ctx.svc.output.join('');
    const san = out.match(/(ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:)[^\n]*/);
    if (san) throw new Error(`hubcast-service sanitizer report: ${san[0]}\n${out.split('\n').slice(-30).join('\n')}`);
    if (!ctx.svc.reported && (r.killed || r.code !== 0))
      throw new Error(`hubcast-service did not shut down cleanly on SIGTERM (code ${r.code}, signal ${r.signal}, killed ${r.killed})`);
  });
  return ctx;
}
