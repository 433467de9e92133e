import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileIgnore } from "../../src/scan/ignore.js";
import { parseIgnoreFile } from "../../src/scan/ignore-file.js";
import { scanTree } from "../../src/scan/walk.js";
import { createRandom, type Random } from "../helpers/random.js";

/**
 * fedsync's ignore rules against git itself: a seeded random tree and a seeded random .gitignore, every
 * path asked of `git check-ignore`, and the answer compared with fedsync's matcher (and with what the scan
 * walks into) path by path.
 */

const SEEDS = [1, 2, 3, 4, 5, 6];
/** A memory file system where there is one: the test writes a few thousand files per seed. */
const SCRATCH = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
const PATHS = 3000;
const RULES = 300;

/** Names that make rules interesting: dots, spaces, brackets, glob characters, a leading `!` or `#`. */
const NAMES = [
  "a",
  "b",
  "ab",
  "abc",
  "foo",
  "Foo",
  "FOO",
  "bar",
  "x.log",
  "a.b.c",
  ".hidden",
  ".env",
  "build",
  "cache",
  "node_modules",
  "name with space",
  "trail ",
  "[br]",
  "br]",
  "!bang",
  "#hash",
  "st*r",
  "q?",
  "back\\slash",
  "1.txt",
  "Z9",
  "-dash",
  "é.txt",
  "日本",
  "ü",
];

const GLOBS = [
  "*",
  "*.log",
  "*.txt",
  "a*",
  "*b*",
  "?",
  "??",
  "f?o",
  "[ab]*",
  "[!a]*",
  "[^ab]",
  "[a-c]",
  "[a-c]*",
  "[[:upper:]]*",
  "[[:digit:]].txt",
  "[[:alpha:]][[:alnum:]]",
  "[]]*",
  "[!]]*",
  "*[]]",
  ".*",
  "*.*.*",
  "\\[br]",
  "[[]br]",
  "st\\*r",
  "q\\?",
  "*\\ ",
  "trail\\ ",
  "name\\ with\\ space",
  "name?with*",
  "[a-]*",
  "[-a]",
  "[\\]]*",
  "b[a-z]*",
  "**",
  "***",
  "*o*",
];

/** Names whose leading `!`, `#` or glob characters need escaping to be matched literally. */
function literal(name: string): string {
  let escaped = name.replace(/[\\[*?]/g, (char) => `\\${char}`);
  if (escaped.startsWith("!") || escaped.startsWith("#")) escaped = `\\${escaped}`;
  if (escaped.endsWith(" ")) escaped = `${escaped.slice(0, -1)}\\ `;
  return escaped;
}

function segment(random: Random): string {
  return random.chance(0.45) ? literal(random.pick(NAMES)) : random.pick(GLOBS);
}

/** Odd lines: comments, blanks, lines git reads as matching nothing, and edge cases of the syntax. */
const ODD_LINES = [
  "# a comment",
  "",
  "   ",
  "/",
  "!",
  "\\",
  "foo\\",
  "[ab",
  "[[:nope:]]",
  "[[::]]",
  "**/",
  "/**",
  "/**/",
  "a/**/",
  "**/a/**",
  "!/",
  "\\#hash",
  "\\!bang",
  "foo/\\",
  "foo\\/",
  "a//b",
  "  a",
  "\tb",
  "a\t",
  "build/   ",
  "cache\\  ",
];

/** A pattern for one name that matches it: itself, or a glob built around it. */
function matching(random: Random, name: string): string {
  const chars = [...name];
  switch (random.int(0, 7)) {
    case 0:
      return "*";
    case 1: {
      const at = random.int(0, chars.length - 1);
      return chars.map((char, index) => (index === at ? "?" : literal(char))).join("");
    }
    case 2:
      return `${literal(chars.slice(0, random.int(0, chars.length)).join(""))}*`;
    case 3:
      return `*${literal(chars.slice(random.int(0, chars.length)).join(""))}`;
    case 4: {
      const first = chars[0]!;
      const member =
        first === "]" || first === "\\" || first === "[" || first === "-" || first === "!" || first === "^"
          ? `\\${first}`
          : first;
      return `[${member}q]${literal(chars.slice(1).join(""))}`;
    }
    case 5:
      return `[!q]${literal(chars.slice(1).join(""))}`;
    default:
      return literal(name);
  }
}

/**
 * A rule aimed at one path of the tree, so that most rules match something specific: from the root or
 * from any depth (`**` or a plain name), with names turned into globs, negated or for directories only.
 */
function aimedRule(random: Random, path: string, isDir: boolean): string {
  let segments = path.split("/").map((name) => (random.chance(0.3) ? matching(random, name) : literal(name)));
  let body: string;
  if (random.chance(0.65)) {
    if (segments.length > 2 && random.chance(0.2)) {
      const cut = random.int(1, segments.length - 2);
      segments = [...segments.slice(0, cut), "**", ...segments.slice(cut + 1)];
    }
    body = segments.join("/");
    if (segments.length === 1 || random.chance(0.3)) body = `/${body}`;
  } else {
    // A single name matches at every depth, which on this small alphabet is a large part of the tree.
    const longest = segments.length > 1 && random.chance(0.85) ? segments.length - 2 : segments.length - 1;
    const tail = segments.slice(random.int(0, longest));
    body = tail.join("/");
    if (tail.length === 1 ? random.chance(0.3) : random.chance(0.7)) body = `**/${body}`;
  }
  if ((isDir && random.chance(0.5)) || random.chance(0.05)) body += "/";
  else if (random.chance(0.1)) body += "/**";
  return body;
}

/** A rule built from generic globs rather than aimed at a path. */
function genericRule(random: Random): string {
  const depth = random.pick([2, 2, 3]);
  const parts = Array.from({ length: depth }, () => segment(random));
  let body = parts.join("/");
  const shape = random.int(0, 5);
  if (shape === 0) body = `**/${body}`;
  else if (shape === 1) body = `${body}/**`;
  else if (shape === 2) body = `${parts[0]}/**/${parts.slice(1).join("/")}`;
  else if (shape === 3) body = `/${body}`;
  if (random.chance(0.3)) body += "/";
  return body;
}

// A rule of stars and slashes alone ("*", "/**", "**" + "/") ignores the whole tree, or every directory.
function ignoresEverything(line: string): boolean {
  return !line.startsWith("!") && /^[*/]*\*[*/]*$/.test(line.trim());
}

function rule(random: Random, tree: Tree): string {
  for (;;) {
    let line: string;
    if (random.chance(0.06)) line = random.pick(ODD_LINES);
    else {
      if (random.chance(0.02)) line = segment(random);
      else if (random.chance(0.15)) line = genericRule(random);
      else {
        const isDir = random.chance(0.4);
        line = aimedRule(random, random.pick(isDir ? tree.dirs : tree.files), isDir);
      }
      if (random.chance(0.4)) line = `!${line}`;
      if (random.chance(0.05)) line += "  ";
    }
    // Left anywhere but first, such a rule would leave nothing to compare.
    if (!ignoresEverything(line)) return line;
  }
}

/** Half the seeds start the way a "sync only these" file does: ignore everything, then bring directories back. */
const ALLOW_LIST = ["*", "!*/"];

interface Tree {
  files: string[];
  dirs: string[];
}

/** A tree of about PATHS paths: nested directories (some empty) and files, names drawn from NAMES. */
function randomTree(random: Random): Tree {
  const kinds = new Map<string, "file" | "dir">();
  while (kinds.size < PATHS) {
    const depth = random.int(1, 5);
    const segments = Array.from({ length: depth }, () => random.pick(NAMES));
    const leafIsDir = random.chance(0.15);
    let path = "";
    let fits = true;
    for (const [index, name] of segments.entries()) {
      path = path === "" ? name : `${path}/${name}`;
      const wanted = index < depth - 1 || leafIsDir ? "dir" : "file";
      const existing = kinds.get(path);
      if (existing !== undefined && existing !== wanted) {
        fits = false;
        break;
      }
    }
    if (!fits) continue;
    path = "";
    for (const [index, name] of segments.entries()) {
      path = path === "" ? name : `${path}/${name}`;
      kinds.set(path, index < depth - 1 || leafIsDir ? "dir" : "file");
    }
  }
  const files = [...kinds].filter(([, kind]) => kind === "file").map(([path]) => path);
  const dirs = [...kinds].filter(([, kind]) => kind === "dir").map(([path]) => path);
  return { files, dirs };
}

/** The rule git says decides each path ("" when none matches; a negation starts with "!"). */
function gitDecisions(gitDir: string, workTree: string, paths: string[]): Map<string, string> {
  const home = join(gitDir, "home");
  mkdirSync(home, { recursive: true });
  const output = execFileSync(
    "git",
    ["-c", "core.excludesFile=/dev/null", "check-ignore", "--no-index", "--stdin", "-z", "-v", "-n"],
    {
      cwd: workTree,
      input: paths.join("\0") + "\0",
      env: {
        PATH: process.env.PATH,
        HOME: home,
        XDG_CONFIG_HOME: home,
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_DIR: gitDir,
        GIT_WORK_TREE: workTree,
      },
      maxBuffer: 64 * 1024 * 1024,
    },
  ).toString("utf8");
  // -z -v -n: source, line number, pattern and path of each path asked, each ended by a NUL.
  const fields = output.split("\0");
  const decisions = new Map<string, string>();
  for (let i = 0; i + 3 < fields.length; i += 4) decisions.set(fields[i + 3]!, fields[i + 2]!);
  return decisions;
}

for (const seed of SEEDS) {
  test(`ignore rules decide as git check-ignore does, for every path (seed ${seed})`, async (t) => {
    const random = createRandom(seed);
    const dir = mkdtempSync(join(SCRATCH, "fedsync-ignore-git-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const gitDir = join(dir, "repo.git");
    const workTree = join(dir, "tree");
    mkdirSync(workTree);
    execFileSync("git", ["init", "--quiet", "--bare", gitDir]);
    execFileSync("git", ["--git-dir", gitDir, "config", "core.bare", "false"]);

    const tree = randomTree(random);
    const { files, dirs } = tree;
    for (const path of dirs) mkdirSync(join(workTree, path), { recursive: true });
    for (const path of files) writeFileSync(join(workTree, path), "");
    const lines = [
      ...(seed % 2 === 0 ? ALLOW_LIST : []),
      ...Array.from({ length: RULES }, () => rule(random, tree)),
    ];
    // A third of the seeds write the file as an editor on another system might: a BOM and CRLF line ends.
    const crlf = seed % 3 === 0;
    writeFileSync(
      join(workTree, ".gitignore"),
      (crlf ? "\uFEFF" : "") + lines.join(crlf ? "\r\n" : "\n") + "\n",
    );

    const paths = [...dirs, ...files, ".gitignore"].sort();
    const decisions = gitDecisions(gitDir, workTree, paths);
    assert.equal(decisions.size, paths.length, "git answered for every path");
    const git = new Map([...decisions].map(([path, rule]) => [path, rule !== "" && !rule.startsWith("!")]));
    const parsed = parseIgnoreFile(readFileSync(join(workTree, ".gitignore")));
    const ignored = compileIgnore(parsed.rules);
    const dirSet = new Set(dirs);
    const key = (path: string) => (dirSet.has(path) ? `${path}/` : path);

    const disagreements = paths
      .filter((path) => ignored(key(path)) !== git.get(path))
      .map((path) => `${key(path)}: git ${git.get(path) ? "ignores" : "keeps"} it`);
    assert.deepEqual(disagreements.slice(0, 20), [], `seed ${seed}: ${disagreements.length} disagreements`);

    // The comparison means something only when the rules split the tree, negations included.
    const ignoredCount = [...git.values()].filter(Boolean).length;
    const keptByNegation = [...decisions.values()].filter((rule) => rule.startsWith("!")).length;
    assert.ok(
      ignoredCount > paths.length / 5 && ignoredCount < paths.length * 0.95,
      `${ignoredCount} ignored`,
    );
    assert.ok(keptByNegation > paths.length / 50, `${keptByNegation} kept by a negation`);

    // The walk never descends into an excluded directory: it yields exactly what git keeps.
    const walked: string[] = [];
    for await (const item of scanTree(workTree, { ignored })) {
      assert.equal(item.kind, "entry");
      if (item.kind === "entry") walked.push(item.entry.key);
    }
    const kept = paths.filter((path) => !git.get(path)).map(key);
    assert.deepEqual(walked.sort(), kept.sort());
  });
}
