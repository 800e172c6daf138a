'use strict';
// Child process for test/pack.spec.ts: embeds the Node-RED found at argv[2] with the user directory argv[3]
// (where the packed tarball was installed), deploys the flow file argv[4] if given, and prints one JSON line:
// {port, missing, errors}. A child, because RED.stop() is final for a process (Node-RED cannot start again in it) and the
// main mocha process may embed its own runtime. It stops on SIGTERM or when stdin closes.
const http = require('http');
const path = require('path');

const [nodeRedDir, userDir, flowFile] = process.argv.slice(2);
const RED = require(nodeRedDir);
const express = require(require.resolve('express', { paths: [nodeRedDir] }));

const errors = [];
const app = express();
const server = http.createServer(app);
RED.init(server, {
  userDir,
  flowFile: flowFile ? path.resolve(flowFile) : path.join(userDir, 'flows.json'),
  httpAdminRoot: '/admin',
  httpNodeRoot: '/',
  credentialSecret: false,
  editorTheme: { tours: false },
  logging: {
    console: { level: 'off' },
    // Warnings and errors go back to the test (level 20 = error, 30 = warn).
    capture: {
      level: 'warn',
      handler: () => (m) => {
        if (m.level <= 20) errors.push(`${m.type || ''} ${m.id || ''}: ${m.msg}`);
      },
    },
  },
});
app.use('/admin', RED.httpAdmin);
app.use('/', RED.httpNode);

async function main() {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  await RED.start();
  // Let the flow start: missing types leave nodes uncreated (the runtime waits for them instead).
  await new Promise((r) => setTimeout(r, 1500));
  const fs = require('fs');
  const flow = flowFile ? JSON.parse(fs.readFileSync(flowFile, 'utf8')) : [];
  const missing = flow.filter((n) => n.type !== 'tab' && !RED.nodes.getNode(n.id)).map((n) => `${n.type}:${n.id}`);
  process.stdout.write(JSON.stringify({ port: server.address().port, missing, errors }) + '\n');
}

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  try {
    await RED.stop();
  } finally {
    server.close();
    process.exit(0);
  }
}
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
main().catch((err) => {
  process.stdout.write(JSON.stringify({ fatal: String((err && err.stack) || err) }) + '\n');
  process.exit(1);
});
