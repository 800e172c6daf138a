/**
 * One measured download in its own process, so its peak RSS is its own. Prints one JSON line:
 * {client, records, distinct, ms, rssBeforeMiB, peakRssMiB, error}
 */
import { ZkClient } from '../lib/client';

export interface WorkerResult {
  client: string;
  records: number;
  distinct: number;
  ms: number;
  rssBeforeMiB: number;
  peakRssMiB: number;
  error: string | null;
}

const mib = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;

interface ZkLibRecord {
  deviceUserId: string;
  recordTime: Date;
}
interface ZkLibInstance {
  createSocket(): Promise<void>;
  getAttendances(): Promise<{ data: ZkLibRecord[]; err: unknown }>;
  disconnect(): Promise<void>;
}

async function runOurs(
  host: string,
  port: number,
): Promise<Omit<WorkerResult, 'client' | 'rssBeforeMiB' | 'peakRssMiB'>> {
  const c = new ZkClient({ host, port, transport: 'tcp', timeoutMs: 10000 });
  await c.connect();
  try {
    const t0 = process.hrtime.bigint();
    const { records } = await c.attendance();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const distinct = new Set(records.map((r) => `${r.userId}|${r.rawTime}`)).size;
    return { records: records.length, distinct, ms, error: null };
  } finally {
    await c.close();
  }
}

async function runNodeZklib(
  host: string,
  port: number,
): Promise<Omit<WorkerResult, 'client' | 'rssBeforeMiB' | 'peakRssMiB'>> {
  // node-zklib logs to the console; keep the bench's stdout to our one JSON line.
  console.log = () => undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only in the worker that measures it
  const ZKLib = require('node-zklib') as new (
    ip: string,
    port: number,
    timeout: number,
    inport: number,
  ) => ZkLibInstance;
  const z = new ZKLib(host, port, 20000, 5200);
  await z.createSocket();
  try {
    const t0 = process.hrtime.bigint();
    const res = await z.getAttendances();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const data = res && Array.isArray(res.data) ? res.data : [];
    const distinct = new Set(data.map((r) => `${r.deviceUserId}|${r.recordTime?.getTime?.()}`)).size;
    return {
      records: data.length,
      distinct,
      ms,
      error: res && res.err ? String((res.err as Error).message ?? res.err) : null,
    };
  } finally {
    await z.disconnect().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const [client, host, portText] = process.argv.slice(2);
  const port = Number(portText);
  const rssBefore = process.memoryUsage().rss;
  let r: Omit<WorkerResult, 'client' | 'rssBeforeMiB' | 'peakRssMiB'>;
  try {
    r = client === 'ours' ? await runOurs(host, port) : await runNodeZklib(host, port);
  } catch (err) {
    r = { records: 0, distinct: 0, ms: 0, error: (err as Error).message ?? String(err) };
  }
  const out: WorkerResult = {
    client,
    ...r,
    rssBeforeMiB: mib(rssBefore),
    peakRssMiB: mib(process.resourceUsage().maxRSS * 1024),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

if (require.main === module) void main();
