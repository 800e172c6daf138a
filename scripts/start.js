'use strict';
// `npm start` for now: a simulated site of a few devices, and how to read it with the `zk` CLI.
// (A later issue turns this into the Node-RED demo.)
const { spawn } = require('child_process');
const path = require('path');

const devices = process.env.PUNCHFLOW_DEMO_DEVICES || '3';
const port = process.env.PUNCHFLOW_SIM_PORT || '4370';
const cli = path.join(__dirname, '..', 'dist', 'bin', 'zk.js');
const child = spawn(process.execPath, [cli, 'sim', '--devices', devices, '--port', port, '--records', '2000', '--users', '25', '--live-every', '10'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let first = null;
let ready = 0;
let buf = '';
child.stdout.on('data', (d) => {
  buf += d.toString();
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    process.stdout.write(line + '\n');
    try {
      const dev = JSON.parse(line);
      if (dev.ready) ready++;
      if (dev.ready && !first) first = dev;
      if (dev.ready && ready === Number(devices)) {
        const dev0 = first;
        setImmediate(() => {
          const dev = dev0;
          process.stdout.write(
            `\nSimulated devices are listening on ${dev.host}, ports ${port} and up. Try, in another shell:\n` +
              `  node dist/bin/zk.js info ${dev.host}:${dev.port}\n` +
              `  node dist/bin/zk.js fetch ${dev.host}:${dev.port} --format ndjson | head\n` +
              `  node dist/bin/zk.js live ${dev.host}:${dev.port} --count 3\n` +
              'Ctrl-C stops them.\n',
          );
        });
      }
    } catch {
      // not JSON: pass through
    }
  }
});
const stop = () => child.kill('SIGINT');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
child.on('exit', (code) => process.exit(code ?? 0));
