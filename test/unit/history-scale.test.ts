import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { historyQuery, type HistoryFilter } from "../../src/journal/history.js";
import { JOURNAL_FILE } from "../../src/journal/journal-file.js";
import { Journal } from "../../src/journal/journal.js";

const ROWS = 1_000_000;
const START = Date.UTC(2026, 0, 1);
const STEP_MS = 1000;

/**
 * A journal with a million history rows over three sets, four machines and 5,000 paths, one a second,
 * written in one transaction by SQLite itself (a JavaScript loop would take far longer than the queries).
 */
function generate(stateDir: string): void {
  Journal.open(stateDir).close();
  const db = new Database(join(stateDir, JOURNAL_FILE));
  try {
    db.pragma("cache_size = -262144");
    db.transaction(() => {
      db.prepare(
        `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO history (at, set_name, path, action, origin, sha256, size, detail, trash)
         SELECT ? + i * ?, 'set' || (i % 3), 'dir' || (i % 50) || '/file' || (i % 5000) || '.txt',
                CASE i % 4 WHEN 0 THEN 'upload' ELSE 'download' END, 'machine-' || (i % 4),
                printf('%064x', i), i % 100000, NULL, NULL
         FROM n`,
      ).run(ROWS - 1, START, STEP_MS);
    })();
  } finally {
    db.close();
  }
}

const FILTERS: Record<string, HistoryFilter> = {
  everything: {},
  "--since": { since: START + (ROWS - 3600) * STEP_MS },
  "--set": { set: "set1" },
  "--set --since": { set: "set2", since: START + (ROWS / 2) * STEP_MS },
  "--machine": { origin: "machine-3" },
  "--machine --since": { origin: "machine-0", since: START + (ROWS - 100) * STEP_MS },
  "--path prefix": { pathPrefix: "dir7/" },
  "one path": { path: "dir7/file7.txt", set: "set1" },
};

test("fedsync log's queries use an index on a million history rows", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fedsync-history-scale-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const stateDir = join(dir, "state");
  const generating = performance.now();
  generate(stateDir);
  t.diagnostic(`generated ${ROWS} rows in ${Math.round(performance.now() - generating)} ms`);

  const db = new Database(join(stateDir, JOURNAL_FILE), { readonly: true });
  const journal = Journal.open(stateDir, { readonly: true });
  t.after(() => {
    db.close();
    journal.close();
  });
  assert.equal(journal.countHistory(), ROWS);

  for (const [name, filter] of Object.entries(FILTERS)) {
    const { sql, params } = historyQuery(filter);
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map(
      (step) => step.detail,
    );
    const reads = plan.filter((detail) => /\bhistory\b/.test(detail));
    assert.ok(
      reads.length > 0 && reads.every((detail) => /USING (COVERING )?INDEX history_by_/.test(detail)),
      `${name}: ${plan.join("; ")}`,
    );
    // Read in index order, so the first page needs no sort of every match. A path prefix may match few
    // rows and be sorted; every other filter must not sort.
    if (!filter.pathPrefix) {
      assert.ok(!plan.some((detail) => detail.includes("TEMP B-TREE")), `${name}: ${plan.join("; ")}`);
    }

    const started = performance.now();
    const page: number[] = [];
    for (const row of journal.history(filter)) {
      page.push(row.at);
      if (page.length === 200) break;
    }
    const ms = performance.now() - started;
    t.diagnostic(`${name}: first ${page.length} rows in ${ms.toFixed(1)} ms (${plan.join("; ")})`);
    assert.ok(page.length > 0, name);
    assert.deepEqual(
      page,
      [...page].sort((a, b) => b - a),
      `${name}: newest first`,
    );
    if (filter.since !== undefined)
      assert.ok(
        page.every((at) => at >= filter.since!),
        name,
      );
  }
});
