// The operator console (docs/console.md) in a real headless Chromium — Debian's, driven by
// playwright-core, never a downloaded browser — against a real local cluster started with `up`
// (3-member etcd, 3 nodes, 2 monitors, proxy, web). The steps share one cluster and one page and
// run in order. DTABLE_CONSOLE_SCREENSHOT=docs/console.png also writes the screenshot there.
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { connectEtcd } from '../../runtime/cluster/etcd/client.ts';
import { keyspace } from '../../runtime/cluster/keyspace.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, runCli, testCluster, type TestCluster } from './cli.ts';
import { adminToken, removeTestCluster, status, until, type StatusJson } from './client.ts';

// Page functions run in the browser; this project compiles without the DOM library.
declare const document: {
  querySelector(s: string): { getAttribute(n: string): string | null } | null;
  querySelectorAll(s: string): { length: number };
};
declare const window: Record<string, unknown>;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const DRAINED = 'dtable-server-03';

interface Assignment {
  epoch: number | null;
  buckets: Record<string, string | null>;
  moving: string[];
}
interface ConsoleNodeJson {
  node_id: string;
  state: string;
  weight_override: number | null;
  buckets: number;
  owned: number;
}

let c: TestCluster;
let st: StatusJson & { console?: { url: string } };
let upOutput = '';
let token = '';
let browser: Browser;
let page: Page;
const figures: string[] = [];
/** Script errors and console errors of the page (a CSP violation is one). */
const pageErrors: string[] = [];

const admin = (path: string, init: RequestInit = {}, tok = token) =>
  fetch(`${st.proxy.admin_url}${path}`, { ...init, headers: { authorization: `Token ${tok}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });
const assignment = async () => (await (await admin('assignment')).json()) as Assignment;
const consoleNodes = async () => ((await (await admin('console/api/state')).json()) as { nodes: ConsoleNodeJson[] }).nodes;

/** bucket → data-owner of every grid cell on the page. */
const grid = (p: Page) =>
  p.$$eval('[data-bucket]', (els) => Object.fromEntries(els.map((e) => [e.getAttribute('data-bucket')!, e.getAttribute('data-owner') || null])));
/** node id → data-buckets of every node card. */
const cards = (p: Page) =>
  p.$$eval('[data-node]', (els) => Object.fromEntries(els.map((e) => [e.getAttribute('data-node')!, Number(e.getAttribute('data-buckets'))])));
const countsOf = (buckets: Record<string, string | null>) => {
  const out: Record<string, number> = {};
  for (const id of Object.values(buckets)) if (id) out[id] = (out[id] ?? 0) + 1;
  return out;
};

/** Waits until the page's grid equals GET /assignment (read again each time, so a change in between is no failure). */
async function gridMatchesAssignment(timeoutMs: number): Promise<Assignment> {
  const r = await until(
    'the grid equals GET /assignment',
    async () => {
      const a = await assignment();
      return JSON.stringify(await grid(page)) === JSON.stringify(a.buckets) ? a : null;
    },
    timeoutMs,
    100,
  );
  return r.value;
}

async function login(tok: string): Promise<void> {
  await page.fill('input[name="token"]', tok);
  await page.click('#login button[type="submit"]');
}

beforeAll(async () => {
  c = await testCluster();
  const r = await runCli(['up', '--detach', ...c.flags], { timeoutMs: 120_000 });
  upOutput = r.stdout + r.stderr;
  if (r.code !== 0) throw new Error(`up failed (exit ${r.code}):\n${upOutput}`);
  st = await status(c);
  token = adminToken(c);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    // The refused wrong token is a 401 the browser reports on its console; nothing else may be.
    if (m.type() === 'error' && !/status of 401/.test(m.text())) pageErrors.push(m.text());
  });
}, 180_000);

afterAll(async () => {
  if (figures.length) console.log(`console e2e figures:\n  ${figures.join('\n  ')}`);
  await browser?.close();
  if (c) await removeTestCluster(c);
}, 120_000);

describe.sequential('operator console in headless Chromium', { timeout: 60_000 }, () => {
  it('up lists the console in its endpoint table and status --json gives console.url', () => {
    expect(st.console?.url).toBe(`${st.proxy.admin_url}console/`);
    expect(upOutput).toMatch(new RegExp(`console\\s+${st.console!.url.replace(/[.]/g, '\\.')}`));
  });

  it('a wrong token shows an error and no data, and the token goes into no URL', async () => {
    await page.goto(st.console!.url);
    await login('wrong-token-123');
    await page.waitForSelector('#login-error:not([hidden])');
    expect(await page.textContent('#login-error')).toMatch(/wrong admin token/i);
    expect(await page.locator('[data-bucket]').count()).toBe(0);
    expect(await page.locator('[data-node]').count()).toBe(0);
    expect(await page.isHidden('#console')).toBe(true);
    expect(page.url()).toBe(st.console!.url);
    expect(await page.inputValue('input[name="token"]')).toBe('');
  });

  it('the admin token opens the console: the grid matches /assignment cell for cell and each node card counts its buckets', async () => {
    await login(token);
    await page.waitForSelector('[data-bucket="ff"]');
    expect(await page.locator('[data-bucket]').count()).toBe(256);
    const a = await gridMatchesAssignment(10_000);
    expect(Object.values(a.buckets).every(Boolean)).toBe(true);
    expect(await cards(page)).toEqual(countsOf(a.buckets));
    expect(await page.$$eval('[data-node]', (els) => els.map((e) => e.getAttribute('data-state')))).toEqual(['live', 'live', 'live']);
    expect(page.url()).toBe(st.console!.url);
    expect(page.url()).not.toContain(token);
    // A marker that a reload would lose: every later update must arrive without one.
    await page.evaluate(() => (window.consoleTestMarker = 1));
  });

  it('a drain from the CLI shows in the grid within 2 s, without a reload', async () => {
    const before = countsOf((await assignment()).buckets)[DRAINED]!;
    expect(before).toBeGreaterThan(80);
    // The clock starts when etcd reports the CLI's write (a watch of our own on the weight key).
    const etcd = connectEtcd({ hostList: st.etcd.endpoints });
    let tPut = 0;
    const watcher = await etcd.watch().key(keyspace('').weight(DRAINED)).create();
    watcher.on('put', () => (tPut ||= Date.now()));
    // The page notes (wall clock, same machine) when its card and its grid show the drain.
    await page.evaluate(`(() => {
      const id = ${JSON.stringify(DRAINED)};
      const seen = (window.consoleDrainSeen = {});
      const check = () => {
        const t = Date.now();
        if (!seen.card && document.querySelector('[data-node="' + id + '"]')?.getAttribute('data-state') === 'draining') seen.card = t;
        if (!seen.grid && document.querySelectorAll('[data-bucket]').length === 256 && document.querySelectorAll('[data-bucket][data-owner="' + id + '"]').length === 0) seen.grid = t;
      };
      new MutationObserver(check).observe(document.getElementById('console'), { subtree: true, childList: true, attributes: true });
    })()`);
    const t0 = Date.now();
    const r = await runCli(['drain', DRAINED, '--no-wait', ...c.flags]);
    const tExit = Date.now();
    expect(r.code, r.stderr).toBe(0);
    type Seen = { card?: number; grid?: number };
    await page.waitForFunction(() => Boolean((window.consoleDrainSeen as Seen).card && (window.consoleDrainSeen as Seen).grid), undefined, { timeout: 10_000 });
    const seen = (await page.evaluate(() => window.consoleDrainSeen)) as Required<Seen>;
    await watcher.cancel();
    etcd.close();
    expect(tPut).toBeGreaterThan(0);
    figures.push(
      `drain ${DRAINED} (${before} buckets) from the CLI: the CLI ran ${tExit - t0} ms (wrote at +${tPut - t0} ms); after etcd reported the write: ` +
        `card "draining" ${seen.card - tPut} ms, grid without the node ${seen.grid - tPut} ms (the monitor's debounce is 500 ms)`,
    );
    expect(seen.card - tPut).toBeLessThan(1000);
    expect(seen.grid - tPut).toBeLessThan(2000);
    const a = await gridMatchesAssignment(5_000);
    expect(await cards(page)).toMatchObject({ [DRAINED]: 0 });
    expect(countsOf(a.buckets)[DRAINED]).toBeUndefined();
    // The last moves (the state keeps 64) are the drained node's buckets, labelled with the epoch that moved them.
    const kept = Math.min(before, 64);
    await until(
      'the last moves name the drain epoch',
      async () => {
        const moves = ((await (await admin('console/api/state')).json()) as { moves: Array<{ from: string; epoch: number | null }> }).moves.slice(0, kept);
        return moves.length === kept && moves.every((m) => m.from === DRAINED && m.epoch === a.epoch);
      },
      5_000,
      100,
    );
    expect(await page.locator('#moves li').count()).toBeGreaterThan(0);
    expect(await page.evaluate(() => window.consoleTestMarker)).toBe(1);
  });

  it('takes a screenshot of the console on the drained cluster', async () => {
    // The handoff finishes (no bucket owned by the drained node), so the picture shows a settled state.
    await until('the drained node owns nothing', async () => (await consoleNodes()).find((n) => n.node_id === DRAINED)?.owned === 0, 30_000, 200);
    await gridMatchesAssignment(5_000);
    await page.waitForFunction(() => document.querySelectorAll('.cell.moving').length === 0, undefined, { timeout: 10_000 });
    const file = join(c.dir, 'console.png');
    await page.screenshot({ path: file, fullPage: true });
    const png = readFileSync(file);
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(png.length).toBeGreaterThan(20_000);
    const target = process.env.DTABLE_CONSOLE_SCREENSHOT;
    if (target) copyFileSync(file, resolve(REPO, target));
  });

  it('previews a drain from the console as the node\'s buckets moving away, and Cancel changes nothing', async () => {
    const a = await assignment();
    const node = 'dtable-server-01';
    await page.click(`[data-node="${node}"] button`);
    await page.waitForSelector('#preview[open]');
    expect(await page.textContent('#preview-title')).toContain(`Drain ${node}`);
    const lines = await page.$$eval('#preview-moves li', (els) => els.map((e) => e.textContent ?? ''));
    expect(lines).toHaveLength(countsOf(a.buckets)[node]!);
    expect(lines.every((l) => l.includes(`${node} → `))).toBe(true);
    // The CLI's dry run previews the same moves.
    const cli = await runCli(['drain', node, '--dry-run', ...c.flags]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(new RegExp(`^drain ${node} \\(dry run, nothing changed\\): ${lines.length} move\\(s\\)`));
    const cliMoves = cli.stdout.trim().split('\n').slice(1).map((l) => l.trim().replace(/ +/g, ' ').replace('->', '→'));
    expect(cliMoves).toEqual(lines.map((l) => l.trim().replace(/ +/g, ' ')));
    await page.click('#preview-cancel');
    expect(await page.isVisible('#preview')).toBe(false);
    expect((await consoleNodes()).find((n) => n.node_id === node)).toMatchObject({ state: 'live', weight_override: null });
    expect((await assignment()).epoch).toBe(a.epoch);
  });

  it('previews the rebalance as a dry run that moves nothing', async () => {
    const a = await assignment();
    await page.click('#rebalance');
    await page.waitForSelector('#preview[open]');
    expect(await page.textContent('#preview-summary')).toMatch(/^\d+ bucket move\(s\) would be made; nothing has changed yet\./);
    await page.click('#preview-cancel');
    expect((await assignment()).epoch).toBe(a.epoch);
  });

  it('refuses a drain of an unknown node and an action with a wrong token, changing nothing', async () => {
    const a = await assignment();
    const unknown = await admin('drain/', { method: 'POST', body: JSON.stringify({ node_id: 'dtable-server-99' }) });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'unknown_node', known: ['dtable-server-01', 'dtable-server-02', 'dtable-server-03'] });
    const wrong = await admin('drain/', { method: 'POST', body: JSON.stringify({ node_id: 'dtable-server-01' }) }, 'wrong-token');
    expect(wrong.status).toBe(401);
    expect((await admin('console/api/state', {}, 'wrong-token')).status).toBe(401);
    // The CLI refuses the unknown node the same way (exit 2, the known nodes in the hint).
    const cli = await runCli(['drain', 'dtable-server-99', '--no-wait', ...c.flags]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/unknown node "dtable-server-99"/);
    await new Promise((r) => setTimeout(r, 1500)); // longer than the monitor's debounce (500 ms)
    const after = await assignment();
    expect(after.epoch).toBe(a.epoch);
    expect(after.buckets).toEqual(a.buckets);
    expect((await consoleNodes()).map((n) => [n.node_id, n.weight_override])).toEqual([
      ['dtable-server-01', null],
      ['dtable-server-02', null],
      [DRAINED, 0],
    ]);
  });

  it('undrains from the console after a preview: the node gets its share back and the grid follows', async () => {
    await page.click(`[data-node="${DRAINED}"] button`);
    await page.waitForSelector('#preview[open]');
    expect(await page.textContent('#preview-title')).toContain(`Undrain ${DRAINED}`);
    const lines = await page.$$eval('#preview-moves li', (els) => els.map((e) => e.textContent ?? ''));
    expect(lines.length).toBe(85);
    expect(lines.every((l) => l.endsWith(`→ ${DRAINED}`))).toBe(true);
    await page.click('#preview-apply');
    await page.waitForSelector('#notice:not([hidden])');
    await page.waitForFunction((id) => Number(document.querySelector(`[data-node="${id}"]`)?.getAttribute('data-buckets')) === 85, DRAINED, { timeout: 15_000 });
    const a = await gridMatchesAssignment(5_000);
    expect(Object.values(countsOf(a.buckets)).sort()).toEqual([85, 85, 86]);
    expect(await page.$$eval('#moves li', (els) => els.length)).toBeGreaterThan(0);
  });

  it('the page ran without a script error or a Content-Security-Policy violation', () => {
    expect(pageErrors).toEqual([]);
  });

  it('the admin token appears in no log of the cluster', () => {
    const logDir = join(c.runDir, 'logs');
    const files = readdirSync(logDir);
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) expect(readFileSync(join(logDir, f), 'utf8').includes(token), f).toBe(false);
  });
});
