'use strict';
/**
 * `npm start`: the PunchFlow demo. Starts Node-RED (this repository's node-red dev dependency, embedded in
 * our own HTTP server, see node-red-embed.js) on 127.0.0.1:$PORT with the user directory `.punchflow/`,
 * PunchFlow loaded from dist/ and flows/demo.json deployed, plus a simulated site of
 * $PUNCHFLOW_DEMO_DEVICES time clocks on free ports. Punches go to data/attendance-YYYY-MM-DD.ndjson, and
 * also to MySQL when PUNCHFLOW_MYSQL_URL is set. Ctrl-C stops Node-RED (sinks flush), then the simulators.
 *
 * Settings (environment):
 *   PORT                     editor and dashboard port, default 1880 (0: any free port)
 *   PUNCHFLOW_DEMO_DEVICES   simulated devices, default 3 (1…50)
 *   PUNCHFLOW_LIVE_EVERY     seconds between simulated live punches per device, default 5 (0 = none)
 *   PUNCHFLOW_DATA_DIR       where the daily files go, default data/ in the repository
 *   PUNCHFLOW_MYSQL_URL      mysql://user:password@host:3306/database: also write to MySQL
 *   PUNCHFLOW_RESET_FLOWS=1  deploy flows/demo.json again even if the flows were edited in the editor
 *   PUNCHFLOW_LOG_LEVEL      Node-RED console log level, default warn
 */
const { createHash } = require('crypto');
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
// PUNCHFLOW_USER_DIR exists for the tests (test/e2e/start.spec.ts), which must not touch the repository's state.
const USER_DIR = path.resolve(ROOT, process.env.PUNCHFLOW_USER_DIR || '.punchflow');
const SITE_FILE = path.join(USER_DIR, 'demo-site.json');
const FLOW_HASH_FILE = path.join(USER_DIR, '.demo-flow-hash');
const SITES = ['Head office', 'Warehouse', 'Branch North'];
const NAMES = ['Front door', 'Loading bay', 'Reception', 'Back door', 'Gate', 'Canteen', 'Workshop', 'Office'];
const HISTORY_RECORDS = 2000;
const USERS = 25;
const SEED = 4370;
// Version 2: plain user ids (no 24-digit or leading-zero ids in the demo); a version 1 site starts afresh.
const SITE_VERSION = 2;

function fail(message) {
  process.stderr.write(`npm start: ${message}\n`);
  process.exit(1);
}

function intEnv(name, def, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    fail(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
  return n;
}

/** mysql://user:password@host:port/database → the env settings the demo flow's MySQL sink reads. */
function mysqlFromUrl(raw) {
  let u;
  try {
    u = new URL(raw);
  } catch {
    fail('PUNCHFLOW_MYSQL_URL is not a URL (expected mysql://user:password@host:3306/database)');
  }
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:')
    fail(`PUNCHFLOW_MYSQL_URL must start with mysql:// (got ${u.protocol}//)`);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database) fail('PUNCHFLOW_MYSQL_URL names no database (mysql://user:password@host:3306/database)');
  return {
    PUNCHFLOW_MYSQL_HOST: u.hostname.replace(/^\[|\]$/g, ''),
    PUNCHFLOW_MYSQL_PORT: u.port || '3306',
    PUNCHFLOW_MYSQL_USER: decodeURIComponent(u.username),
    PUNCHFLOW_MYSQL_PASSWORD: decodeURIComponent(u.password),
    PUNCHFLOW_MYSQL_DATABASE: database,
  };
}

const sha = (text) => createHash('sha256').update(text).digest('hex');

function writeAtomic(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/**
 * Deploys flows/demo.json into .punchflow/ unless the flows there were changed in the editor since we wrote
 * them (then they are kept, and the reason printed). Returns a note for the summary, or null.
 */
function prepareFlows(withMysql) {
  const demo = JSON.parse(fs.readFileSync(path.join(ROOT, 'flows', 'demo.json'), 'utf8'));
  const creds = {};
  for (const n of demo) {
    if (n.type === 'zk-sink' && n.target === 'mysql') n.d = !withMysql;
    // Credentials live in flows_cred.json (only an env reference here: `${PUNCHFLOW_MYSQL_PASSWORD}`).
    if (n.credentials) {
      creds[n.id] = n.credentials;
      delete n.credentials;
    }
  }
  const text = JSON.stringify(demo, null, 4);
  const flowFile = path.join(USER_DIR, 'flows.json');
  const reset = process.env.PUNCHFLOW_RESET_FLOWS === '1';
  if (fs.existsSync(flowFile) && !reset) {
    const current = fs.readFileSync(flowFile, 'utf8');
    const lastWritten = fs.existsSync(FLOW_HASH_FILE) ? fs.readFileSync(FLOW_HASH_FILE, 'utf8').trim() : '';
    if (sha(current) !== lastWritten) {
      return 'Keeping the flows you changed in .punchflow/flows.json (PUNCHFLOW_RESET_FLOWS=1 deploys flows/demo.json again).';
    }
  }
  writeAtomic(flowFile, text);
  writeAtomic(path.join(USER_DIR, 'flows_cred.json'), JSON.stringify(creds, null, 4));
  writeAtomic(FLOW_HASH_FILE, sha(text));
  return null;
}

/** The simulated site. Its logs are saved in .punchflow/ so a restart continues the same devices. */
async function startSite(sim, count, liveEveryMs, tz) {
  let saved = null;
  try {
    saved = JSON.parse(fs.readFileSync(SITE_FILE, 'utf8'));
    if (!saved || saved.version !== SITE_VERSION || saved.seed !== SEED || saved.users !== USERS) saved = null;
  } catch {
    saved = null;
  }
  const sims = [];
  try {
    for (let i = 0; i < count; i++) {
      const prior =
        saved && saved.devices[i] && Array.isArray(saved.devices[i].records) ? saved.devices[i].records : null;
      const s = new sim.ZkSimulator({
        seed: SEED + i,
        users: USERS,
        userIds: 'plain',
        records: prior ? 0 : HISTORY_RECORDS,
        liveEveryMs,
        tz,
        port: 0,
      });
      if (prior)
        for (const r of prior)
          s.punch({ userId: r.userId, verify: r.verify, state: r.state, at: r.time, workCode: r.workCode });
      sims.push(s);
      // Port 0: the system picks a free port (TCP and UDP alike), so nothing clashes with a real 4370.
      await s.start();
    }
  } catch (err) {
    await Promise.all(sims.map((s) => s.stop()));
    throw err;
  }
  return sims;
}

function saveSite(sims) {
  const state = {
    version: SITE_VERSION,
    seed: SEED,
    users: USERS,
    savedAt: new Date().toISOString(),
    devices: sims.map((s) => ({
      serial: s.serial,
      records: s.records.map((r) => ({
        userId: r.userId,
        verify: r.verify,
        state: r.state,
        time: r.time,
        workCode: r.workCode || 0,
      })),
    })),
  };
  try {
    writeAtomic(SITE_FILE, JSON.stringify(state));
  } catch (err) {
    process.stderr.write(`npm start: could not save the simulated site: ${err.message}\n`);
  }
}

/** Node-RED log lines as its console logger prints them, without the notices this setup makes on purpose. */
function printLog(e) {
  if (/^Projects disabled|^Using unencrypted credentials/.test(e.msg)) return;
  const d = new Date(e.timestamp);
  const when = d.toLocaleString('en-GB', {
    day: '2-digit',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
  const who = e.type ? `[${e.type}${e.name ? ':' + e.name : ''}] ` : '';
  const line = `${when} - [${e.levelName}] ${who}${e.msg}\n`;
  if (e.level <= 30) process.stderr.write(line);
  else process.stdout.write(line);
}

async function main() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 18) fail(`Node.js 18.5 or later is needed (this is ${process.version})`);
  if (!fs.existsSync(path.join(ROOT, 'dist', 'nodes')) || !fs.existsSync(path.join(ROOT, 'dist', 'lib', 'sim'))) {
    fail('dist/ is missing: run `npm run build` (npm ci does it through the prepare script)');
  }
  const port = intEnv('PORT', 1880, 0, 65535);
  const devices = intEnv('PUNCHFLOW_DEMO_DEVICES', 3, 1, 50);
  const liveEvery = intEnv('PUNCHFLOW_LIVE_EVERY', 5, 0, 3600);
  const dataDir = path.resolve(ROOT, process.env.PUNCHFLOW_DATA_DIR || 'data');
  const mysqlUrl = process.env.PUNCHFLOW_MYSQL_URL || '';
  const mysql = mysqlUrl ? mysqlFromUrl(mysqlUrl) : null;
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

  fs.mkdirSync(USER_DIR, { recursive: true });
  fs.mkdirSync(dataDir, { recursive: true });

  const sim = require(path.join(ROOT, 'dist', 'lib', 'sim'));
  const sims = await startSite(sim, devices, liveEvery * 1000, tz);
  const host = '127.0.0.1';
  const fleet = ['host,port,name,site,tz'];
  sims.forEach((s, i) => {
    const name = NAMES[i % NAMES.length] + (i >= NAMES.length ? ` ${Math.floor(i / NAMES.length) + 1}` : '');
    fleet.push(`${host},${s.port},${name},${SITES[i % SITES.length]},${tz}`);
  });

  // The demo flow reads these through ${VAR} in its node properties (Node-RED substitutes them at deploy).
  Object.assign(process.env, {
    PUNCHFLOW_FLEET: fleet.join('\n'),
    PUNCHFLOW_SIM_HOST: host,
    PUNCHFLOW_SIM_PORTS: sims.map((s) => s.port).join(','),
    PUNCHFLOW_DATA_DIR: dataDir,
    ...(mysql || {}),
  });
  const flowNote = prepareFlows(!!mysql);

  const { startNodeRed } = require('./node-red-embed');
  let rt;
  try {
    rt = await startNodeRed({
      userDir: USER_DIR,
      host,
      port,
      adminRoot: '/',
      // Node-RED's own console logging is replaced by printLog (same lines, minus two start-up notices).
      consoleLevel: 'off',
      captureLevel: process.env.PUNCHFLOW_LOG_LEVEL || 'warn',
      onLog: printLog,
      // Flow context on disk: the dashboard's table, counts and chart survive a restart.
      settings: { contextStorage: { default: { module: 'localfilesystem' } } },
    });
  } catch (err) {
    await Promise.all(sims.map((s) => s.stop()));
    saveSite(sims);
    if (err && err.code === 'EADDRINUSE')
      fail(`port ${port} on ${host} is in use (another Node-RED?): set PORT, e.g. PORT=1881 npm start`);
    throw err;
  }
  const saveTimer = setInterval(() => saveSite(sims), 60_000);

  const out = [
    '',
    'PunchFlow demo is running.',
    `  Editor:     ${rt.baseUrl}/`,
    `  Dashboard:  ${rt.baseUrl}/ui/`,
    `  Devices:    ${sims.length} simulated on ${host}, ports ${sims.map((s) => s.port).join(', ')}` +
      (liveEvery ? ` (a live punch every ${liveEvery} s each)` : ''),
    `  Data:       ${path.join(dataDir, 'attendance-YYYY-MM-DD.ndjson')} (one file per day of the punch)`,
    mysql
      ? `  MySQL:      ${mysql.PUNCHFLOW_MYSQL_USER}@${mysql.PUNCHFLOW_MYSQL_HOST}:${mysql.PUNCHFLOW_MYSQL_PORT}/${mysql.PUNCHFLOW_MYSQL_DATABASE} (table attendance_log)`
      : '  MySQL:      off (set PUNCHFLOW_MYSQL_URL=mysql://user:password@host:3306/database to also write there)',
    `  Node-RED:   user directory ${USER_DIR}`,
    flowNote ? `  Note:       ${flowNote}` : null,
    'Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(out.filter((l) => l !== null).join('\n') + '\n');

  let stopping = false;
  const shutdown = async (signal) => {
    if (stopping) {
      process.stderr.write('Stopping anyway.\n');
      process.exit(1);
    }
    stopping = true;
    process.stdout.write(`\n${signal}: stopping Node-RED (sinks flush), then the simulated devices…\n`);
    clearInterval(saveTimer);
    const force = setTimeout(() => {
      process.stderr.write('Still stopping after 30 s; exiting.\n');
      process.exit(1);
    }, 30_000);
    force.unref();
    try {
      await rt.stop();
    } catch (err) {
      process.stderr.write(`Node-RED: ${err.message}\n`);
    }
    await Promise.all(sims.map((s) => s.stop()));
    saveSite(sims);
    process.stdout.write('Stopped.\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`npm start: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
