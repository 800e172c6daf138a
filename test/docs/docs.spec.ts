/**
 * The documentation points only at things that exist: every repository path named in docs/*.md and the README
 * is a file or folder here, every `docs/<file>.md §N` cited from code names a section that file has, and no
 * source comment cites a document the repository does not hold.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..');
const docsDir = path.join(root, 'docs');
const SOURCE_DIRS = ['lib', 'nodes', 'bin', 'test', 'bench', 'scripts'];
const TOP = ['lib', 'nodes', 'test', 'bench', 'bin', 'scripts', 'flows', 'examples', 'docs', 'icons'];

function markdownFiles(): string[] {
  const docs = fs
    .readdirSync(docsDir)
    .filter((f) => f.endsWith('.md'))
    .map((f) => path.join(docsDir, f));
  return [path.join(root, 'README.md'), ...docs];
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') sourceFiles(p, out);
    } else if (/\.(ts|js)$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Section numbers of a markdown file: `## 7. Title` gives 7, `### 7.6 Title` gives 7.6. */
function sections(file: string): Set<string> {
  const out = new Set<string>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^#{2,4} (\d+(?:\.\d+)*)\.? /.exec(line);
    if (m) out.add(m[1]);
  }
  return out;
}

/** The section numbers of one citation: `§1.2, §3` gives 1.2 and 3; `§2–§3` gives 2 and 3. */
function citedSections(text: string): string[] {
  return [...text.matchAll(/§(\d+(?:\.\d+)*)/g)].map((m) => m[1]);
}

describe('documentation', () => {
  it('names only repository paths that exist', () => {
    // Folders the build or a run creates (listed in .gitignore) are not in the repository; naming them is fine.
    const generated = fs
      .readFileSync(path.join(root, '.gitignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.endsWith('/') && !l.startsWith('#'));
    const missing: string[] = [];
    for (const file of markdownFiles()) {
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(/`([^`\s]+)`/g)) {
        const p = m[1].replace(/[.,:;]$/, '');
        const top = p.split('/')[0];
        if (!p.includes('/') || !TOP.includes(top) || /[*<>{}|]/.test(p)) continue;
        if (generated.some((g) => p.startsWith(g))) continue;
        if (!fs.existsSync(path.join(root, p))) missing.push(`${path.relative(root, file)}: ${p}`);
      }
      // Links between the documents, e.g. [targets.md](targets.md).
      for (const m of text.matchAll(/\]\(([\w./-]+\.md)(?:#[\w-]*)?\)/g)) {
        const target = path.resolve(path.dirname(file), m[1]);
        if (!fs.existsSync(target)) missing.push(`${path.relative(root, file)}: link ${m[1]}`);
      }
    }
    assert.equal(missing.length, 0, `paths that do not exist:\n${missing.join('\n')}`);
  });

  it('cites only sections that exist, from the documents and from the code', () => {
    const known = new Map<string, Set<string>>();
    const sectionsOf = (name: string): Set<string> | null => {
      const file = path.join(docsDir, name);
      if (!fs.existsSync(file)) return null;
      if (!known.has(name)) known.set(name, sections(file));
      return known.get(name) ?? null;
    };
    const bad: string[] = [];
    const check = (where: string, name: string, cite: string): void => {
      const have = sectionsOf(name);
      if (!have) {
        bad.push(`${where}: docs/${name} does not exist`);
        return;
      }
      for (const s of citedSections(cite)) if (!have.has(s)) bad.push(`${where}: docs/${name} has no §${s}`);
    };
    for (const file of SOURCE_DIRS.flatMap((d) => sourceFiles(path.join(root, d)))) {
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        for (const m of line.matchAll(/docs\/([\w-]+\.md)((?:[ ,]*(?:and |or )?§[\d.]+(?:–§?[\d.]+)?)*)/g)) {
          check(`${path.relative(root, file)}:${i + 1}`, m[1], m[2]);
        }
      });
    }
    for (const file of markdownFiles()) {
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        // `[targets.md](targets.md) §1` and `docs/zk-protocol.md §7.6` inside the documents.
        for (const m of line.matchAll(/(?:\]\(|docs\/)([\w-]+\.md)\)?((?:[ ,]*(?:and |or )?§[\d.]+)*)/g)) {
          if (m[2]) check(`${path.relative(root, file)}:${i + 1}`, m[1], m[2]);
        }
        // A bare `§N` inside a document refers to that document.
        const self = path.basename(file);
        if (path.dirname(file) !== docsDir) return;
        const own = line.replace(/(?:\]\(|docs\/)[\w-]+\.md\)?(?:[ ,]*(?:and |or )?§[\d.]+)*/g, '');
        for (const s of citedSections(own)) {
          if (!(sectionsOf(self)?.has(s) ?? false))
            bad.push(`${path.relative(root, file)}:${i + 1}: no §${s} in ${self}`);
        }
      });
    }
    assert.equal(bad.length, 0, `citations of missing sections:\n${bad.join('\n')}`);
  });

  it('the code maps of architecture.md name functions that are in the files they name', () => {
    const text = fs.readFileSync(path.join(docsDir, 'architecture.md'), 'utf8');
    // The code-map sections (7.x and 8): each is checked against the files it names.
    const parts = text.split(/^(?=### 7\.\d|## 8\.|## 9\.)/m).filter((p) => /^(### 7\.\d|## 8\.)/.test(p));
    assert.ok(parts.length >= 4, 'architecture.md lost its code-map sections');
    const missing: string[] = [];
    for (const part of parts) {
      const title = part.split('\n')[0];
      const ticks = [...part.matchAll(/`([^`\s]+)`/g)].map((m) => m[1]);
      const files = ticks
        .filter((t) => /^[\w-]+\/[\w/-]+\.ts$/.test(t))
        .map((t) => fs.readFileSync(path.join(root, t), 'utf8'));
      for (const t of ticks) {
        const m = /^(?:[A-Z]\w*\.)?([a-zA-Z_]\w*)$/.exec(t);
        // Identifiers only: functions, classes and Class.method; not words such as `OK` or field lists.
        if (!m || !/[a-z]/.test(t) || !/[A-Z]|^[a-z]+[A-Z]|\./.test(t)) continue;
        const word = new RegExp(`\\b${m[1]}\\b`);
        if (!files.some((f) => word.test(f))) missing.push(`${title}: ${t}`);
      }
    }
    assert.equal(missing.length, 0, `names not found in the files their section names:\n${missing.join('\n')}`);
  });

  it('source comments cite no document outside the repository', () => {
    const self = path.resolve(__filename);
    const outside: string[] = [];
    for (const file of SOURCE_DIRS.flatMap((d) => sourceFiles(path.join(root, d)))) {
      if (path.resolve(file) === self) continue;
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        for (const m of line.matchAll(
          /[\w./-]*(?:design|targets|zk-protocol|field-notes|node-red-notes)(?:\.md)?\b/g,
        )) {
          const cite = m[0];
          if (!/\b(?:design|targets|zk-protocol|field-notes|node-red-notes)(?:\.md)?$/.test(cite)) continue;
          if (/^(?:\.\/)?docs\/[\w-]+\.md$/.test(cite) && fs.existsSync(path.join(root, cite))) continue;
          // Identifiers and file names that merely contain a word (e.g. `targets`, `SINK_TARGETS`) are not citations.
          if (!cite.endsWith('.md') && !/field-notes|node-red-notes/.test(cite)) continue;
          outside.push(`${path.relative(root, file)}:${i + 1}: ${cite}`);
        }
      });
    }
    assert.equal(outside.length, 0, `citations of documents outside the repository:\n${outside.join('\n')}`);
  });
});
