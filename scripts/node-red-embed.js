'use strict';
/**
 * Node-RED embedded in our own express + http server: the project's node-red dev
 * dependency, PunchFlow loaded from the repository root (dist/ must be built), the dashboards found in
 * node_modules, bound to 127.0.0.1. Used two ways:
 *
 *  - `require('./node-red-embed').startNodeRed(options)` in-process (scripts/start.js, `npm start`);
 *  - as a child process with an IPC channel (test/e2e/runtime.ts): options come as JSON in the
 *    PUNCHFLOW_EMBED_OPTIONS environment variable; the child sends {type:'ready', port}, every log entry as
 *    {type:'log', entry}, optionally every message delivery as {type:'deliver', ...}, and stops on
 *    {type:'stop'} (or when the parent goes away). One Node-RED runtime per process: RED.stop() is final,
 *    and node-red-node-test-helper (used by the node tests) patches the same module in its own process.
 */
const fs = require('fs');
const http = require('http');
const path = require('path');

const REPO_ROOT = path.resolve(__dirname, '..');

const LEVEL_NAMES = {
  1: 'off',
  10: 'fatal',
  20: 'error',
  30: 'warn',
  40: 'info',
  50: 'debug',
  60: 'trace',
  98: 'audit',
  99: 'metric',
};

/** A log message as plain JSON (Node-RED passes Errors and objects as msg.msg). */
function plainLog(m) {
  let text = m.msg;
  if (text instanceof Error) text = text.stack || text.message;
  else if (typeof text !== 'string') {
    try {
      text = JSON.stringify(text);
    } catch {
      text = String(text);
    }
  }
  return {
    level: m.level,
    levelName: LEVEL_NAMES[m.level] || String(m.level),
    msg: text,
    type: m.type || null,
    id: m.id || null,
    name: m.name || null,
    z: m.z || null,
    timestamp: m.timestamp || Date.now(),
  };
}

/**
 * @param {object} o
 * @param {string} o.userDir          Node-RED user directory (created if missing)
 * @param {string} [o.host]           default 127.0.0.1
 * @param {number} [o.port]           default 1880; 0 = any free port
 * @param {string|false} [o.adminRoot] editor and admin API root, default '/'; false = no editor, no admin API
 * @param {string} [o.flowFile]       default 'flows.json' (in userDir)
 * @param {string} [o.consoleLevel]   Node-RED console logging level, default 'warn' ('off' for silence)
 * @param {string} [o.captureLevel]   level for onLog, default 'info'
 * @param {(entry: object) => void} [o.onLog]
 * @param {(ev: object) => void} [o.onDeliver]  every message delivery (a postDeliver hook)
 * @param {object} [o.settings]       extra Node-RED settings, merged last
 */
async function startNodeRed(o) {
  const express = require('express');
  const RED = require('node-red');
  const host = o.host || '127.0.0.1';
  fs.mkdirSync(o.userDir, { recursive: true });
  const app = express();
  const server = http.createServer(app);
  const adminRoot = o.adminRoot === undefined ? '/' : o.adminRoot;
  const logging = {
    console: { level: o.consoleLevel || 'warn', metrics: false, audit: false },
  };
  if (o.onLog) {
    const onLog = o.onLog;
    logging.punchflowCapture = {
      level: o.captureLevel || 'info',
      metrics: false,
      audit: false,
      handler: () => (m) => {
        try {
          onLog(plainLog(m));
        } catch {
          // a failing listener must not break Node-RED's logging
        }
      },
    };
  }
  const settings = {
    userDir: o.userDir,
    flowFile: o.flowFile || 'flows.json',
    flowFilePretty: true,
    // A directory whose package.json has a `node-red` section is loaded as that module: PunchFlow from dist/.
    nodesDir: [REPO_ROOT],
    httpAdminRoot: adminRoot,
    httpNodeRoot: '/',
    uiHost: host,
    credentialSecret: false,
    logging,
    // No network beyond loopback: no telemetry, no palette catalogue, no module installs.
    telemetry: { enabled: false, updateNotification: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false, allowUpload: false } },
    editorTheme: { tours: false },
    functionExternalModules: false,
    ui: { path: 'ui' },
    ...(o.settings || {}),
  };
  RED.init(server, settings);
  if (adminRoot !== false) app.use(settings.httpAdminRoot, RED.httpAdmin);
  app.use(settings.httpNodeRoot, RED.httpNode);
  if (o.onDeliver) {
    const onDeliver = o.onDeliver;
    RED.hooks.add('postDeliver.punchflowEmbed', (ev) => {
      try {
        onDeliver(ev);
      } catch {
        // never break a delivery
      }
    });
  }
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port === undefined ? 1880 : o.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await RED.start();
  const port = server.address().port;
  const base = `http://${host}:${port}`;
  let stopping = null;
  const stop = () => {
    if (stopping) return stopping;
    stopping = (async () => {
      // Flows first (sinks flush, device sessions close), then the HTTP server and its open sockets.
      await RED.stop().catch(() => undefined);
      await new Promise((resolve) => {
        server.close(() => resolve());
        if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
      });
    })();
    return stopping;
  };
  return {
    RED,
    app,
    server,
    port,
    baseUrl: base,
    adminUrl: adminRoot === false ? null : base + settings.httpAdminRoot.replace(/\/$/, ''),
    uiUrl: `${base}/ui/`,
    stop,
  };
}

/** A JSON-safe, size-bounded view of a delivered message (for the test harness). */
function deliverySummary(ev) {
  const msg = ev.msg || {};
  let payload;
  try {
    const text = JSON.stringify(msg.payload);
    payload =
      text !== undefined && text.length <= 20000
        ? JSON.parse(text)
        : { truncated: true, length: text ? text.length : 0 };
  } catch {
    payload = { unserialisable: true };
  }
  return {
    type: 'deliver',
    source: {
      id: ev.source && ev.source.id,
      type: ev.source && ev.source.node && ev.source.node.type,
      port: ev.source && ev.source.port,
    },
    destination: {
      id: ev.destination && ev.destination.id,
      type: ev.destination && ev.destination.node && ev.destination.node.type,
    },
    topic: msg.topic,
    payload,
  };
}

async function childMain() {
  const opts = JSON.parse(process.env.PUNCHFLOW_EMBED_OPTIONS || '{}');
  const send = (m) => {
    if (process.connected) process.send(m);
  };
  let rt = null;
  const shutdown = async (code) => {
    try {
      if (rt) await rt.stop();
    } finally {
      send({ type: 'stopped' });
      // Give the IPC message a moment to leave, then go.
      setTimeout(() => process.exit(code), 50);
    }
  };
  process.on('message', (m) => {
    if (!m) return;
    if (m.type === 'stop') void shutdown(0);
    // ${VAR} in node properties is read from this process's environment when a node is created (deploy).
    if (m.type === 'env') {
      for (const [k, v] of Object.entries(m.vars || {})) {
        if (v === null) delete process.env[k];
        else process.env[k] = String(v);
      }
      send({ type: 'env-set', seq: m.seq });
    }
  });
  process.on('disconnect', () => void shutdown(0));
  try {
    rt = await startNodeRed({
      ...opts,
      onLog: (entry) => send({ type: 'log', entry }),
      onDeliver: opts.deliveries ? (ev) => send(deliverySummary(ev)) : undefined,
    });
    send({ type: 'ready', port: rt.port, baseUrl: rt.baseUrl, adminUrl: rt.adminUrl, uiUrl: rt.uiUrl });
  } catch (err) {
    send({ type: 'failed', error: err && err.stack ? err.stack : String(err) });
    setTimeout(() => process.exit(1), 50);
  }
}

module.exports = { startNodeRed, REPO_ROOT };

if (require.main === module && typeof process.send === 'function') void childMain();
