/**
 * bench/push: 500 simulated devices push 200 records each, all at once (batches of 100 lines, as
 * firmware posts them), to a push server on loopback. Figures: records/s received (acknowledged with OK)
 * and journaled (handed on from the durable journal), p50/p99 time to OK per post, peak RSS of the server.
 * Baseline, in the same run: the same server with a naive journal (append + fsync per post, no group
 * commit), which is what a one-file-per-post or write-then-fsync handler does.
 * Last line: one JSON object. BENCH_DEVICES, BENCH_RECORDS and BENCH_BATCH change the sizes.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { JournalEntry, PushJournal, PushJournalWriter } from '../lib/push/journal';
import { listenPush } from '../lib/push/listener';
import { PushServer } from '../lib/push/server';
import { pushDefaults } from '../lib/push/settings';
import { PushState } from '../lib/push/state';
import { pushSerial } from '../lib/sim/push-fleet';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 500);
const RECORDS = Number(process.env.BENCH_RECORDS ?? 200);
const BATCH = Number(process.env.BENCH_BATCH ?? 100);

let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 10);
sampler.unref();

interface DeviceFigures {
  ms: number;
  posts: number;
  failed: number;
  p50: number;
  p99: number;
  max: number;
}

/** Baseline journal: one synchronous append + fsync per post. */
class NaiveJournal implements PushJournalWriter {
  private readonly fd: number;
  constructor(file: string) {
    this.fd = fs.openSync(file, 'a');
  }
  append(e: JournalEntry): Promise<void> {
    fs.writeSync(this.fd, JSON.stringify(e) + '\n');
    fs.fsyncSync(this.fd);
    return Promise.resolve();
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}

function runDevices(url: string): Promise<DeviceFigures> {
  const ext = path.extname(__filename);
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      path.join(__dirname, `push-devices${ext}`),
      url,
      String(DEVICES),
      String(RECORDS),
      String(BATCH),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as DeviceFigures)
        : reject(new Error(`devices exited with ${code}`)),
    );
  });
}

async function phase(
  kind: 'journal' | 'naive',
): Promise<{ devices: DeviceFigures; receivedPerSec: number; journaledPerSec: number; journaled: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `punchflow-bench-push-${kind}-`));
  const state = await PushState.open(path.join(dir, 'state.json'));
  const allowed = new Map(
    Array.from({ length: DEVICES }, (_, i) => [
      pushSerial('PFSIM', i),
      { sn: pushSerial('PFSIM', i), name: null, site: null, tz: 'Asia/Kolkata' },
    ]),
  );
  let journaled = 0;
  let lastJournaledAt = 0;
  let firstPostAt = 0;
  let received = 0;
  let lastReceivedAt = 0;
  let journal: PushJournal | null = null;
  let naive: NaiveJournal | null = null;
  let inner: PushJournalWriter;
  if (kind === 'journal') {
    journal = await PushJournal.open(path.join(dir, 'journal'));
    journal.start((e) => {
      journaled += e.records.length;
      lastJournaledAt = performance.now();
    });
    inner = journal;
  } else {
    const n = new NaiveJournal(path.join(dir, 'naive.ndjson'));
    naive = n;
    inner = {
      append: async (e) => {
        await n.append(e);
        journaled += e.records.length;
        lastJournaledAt = performance.now();
      },
    };
  }
  // Times on the server side: from the first post's arrival to the last durable write (≈ its OK) / hand-on.
  const writer: PushJournalWriter = {
    append: async (e) => {
      if (firstPostAt === 0) firstPostAt = performance.now();
      await inner.append(e);
      received += e.records.length;
      lastReceivedAt = performance.now();
    },
  };
  // Every simulated device shares the loopback address: let all of them in at once.
  const server = new PushServer(
    pushDefaults({ devices: allowed, defaultTz: 'Asia/Kolkata', maxRequestsPerAddress: DEVICES * 2 }),
    writer,
    state,
    {},
  );
  const l = await listenPush(server, 0, '127.0.0.1');
  const devices = await runDevices(`http://127.0.0.1:${l.port}`);
  const total = DEVICES * RECORDS;
  while (journaled < total) await new Promise((r) => setTimeout(r, 5));
  if (received !== total) throw new Error(`received ${received} records, expected ${total}`);
  const sec = (lastReceivedAt - firstPostAt) / 1000;
  const journalSec = (lastJournaledAt - firstPostAt) / 1000;
  await l.close();
  await journal?.close();
  naive?.close();
  await state.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    devices,
    receivedPerSec: Math.round(total / sec),
    journaledPerSec: Math.round(total / Math.max(sec, journalSec)),
    journaled,
  };
}

async function main(): Promise<void> {
  const total = DEVICES * RECORDS;
  process.stdout.write(
    `bench/push: ${DEVICES} devices × ${RECORDS} records (${total.toLocaleString('en-US')}), posts of ${BATCH} lines\n`,
  );
  const base = await phase('naive');
  process.stdout.write(
    `baseline (fsync per post): ${base.receivedPerSec} records/s received, p99 to OK ${base.devices.p99.toFixed(1)} ms\n`,
  );
  const rssBefore = process.memoryUsage().rss;
  peakRss = rssBefore;
  const ours = await phase('journal');
  process.stdout.write(
    `journal (group commit):   ${ours.receivedPerSec} records/s received, ${ours.journaledPerSec} journaled and handed on, p50 ${ours.devices.p50.toFixed(1)} ms, p99 to OK ${ours.devices.p99.toFixed(1)} ms, failed posts ${ours.devices.failed}\n`,
  );
  const result = {
    bench: 'push',
    devices: DEVICES,
    recordsPerDevice: RECORDS,
    records: total,
    posts: ours.devices.posts,
    recordsPerSec: ours.receivedPerSec,
    journaledPerSec: ours.journaledPerSec,
    p50OkMs: Math.round(ours.devices.p50 * 10) / 10,
    p99OkMs: Math.round(ours.devices.p99 * 10) / 10,
    failedPosts: ours.devices.failed,
    baselineRecordsPerSec: base.receivedPerSec,
    baselineP99OkMs: Math.round(base.devices.p99 * 10) / 10,
    ratio: Math.round((ours.receivedPerSec / base.receivedPerSec) * 10) / 10,
    peakRssMiB: Math.round(peakRss / 1048576),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`bench/push: ${err.stack}\n`);
    process.exit(1);
  },
);
