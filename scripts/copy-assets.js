'use strict';
// Puts each node's editor HTML, locales and icons beside its compiled .js (Node-RED looks there),
// and marks the CLI executable. No bundler: tsc does the code, this does the rest.
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const nodesSrc = path.join(root, 'nodes');
const nodesOut = path.join(root, 'dist', 'nodes');
const sharedIcons = path.join(root, 'icons');

function copyDir(from, to) {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) copyDir(src, dst);
    else if (!entry.name.endsWith('.ts')) fs.copyFileSync(src, dst);
  }
}

// Setting rules, the shared device-source form and the SQL identifier rules go into each editor .html from
// their one definition (nodes/shared/editor-html.ts, compiled by tsc just before this runs).
function expandHtml(dir, type) {
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.html')) continue;
    const file = path.join(dir, f);
    const { expandEditorHtml } = require(path.join(nodesOut, 'shared', 'editor-html.js'));
    fs.writeFileSync(file, expandEditorHtml(fs.readFileSync(file, 'utf8'), type));
  }
}

if (fs.existsSync(nodesSrc)) {
  for (const entry of fs.readdirSync(nodesSrc, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const out = path.join(nodesOut, entry.name);
    copyDir(path.join(nodesSrc, entry.name), out);
    expandHtml(out, entry.name);
    // Icons only beside a node (a folder with an editor .html); nodes/shared holds code only.
    const isNode = fs.readdirSync(path.join(nodesSrc, entry.name)).some((f) => f.endsWith('.html'));
    if (isNode && fs.existsSync(sharedIcons)) copyDir(sharedIcons, path.join(out, 'icons'));
  }
}

// The shipped flows also in examples/flows/, where Node-RED's Import → Examples finds them (it reads the
// module's examples/ folder and its subfolders). flows/ stays the one edited copy; examples/flows/ is
// generated (and ignored by git), emptied first so a removed flow does not linger.
const flowsSrc = path.join(root, 'flows');
const flowsExamples = path.join(root, 'examples', 'flows');
if (fs.existsSync(flowsSrc)) {
  fs.rmSync(flowsExamples, { recursive: true, force: true });
  fs.mkdirSync(flowsExamples, { recursive: true });
  for (const f of fs.readdirSync(flowsSrc))
    if (f.endsWith('.json')) fs.copyFileSync(path.join(flowsSrc, f), path.join(flowsExamples, f));
}

const cli = path.join(root, 'dist', 'bin', 'zk.js');
if (fs.existsSync(cli)) fs.chmodSync(cli, 0o755);
