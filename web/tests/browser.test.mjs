// browser.test.mjs -- the page in real headless Chromium (Debian's, driven by playwright-core):
//   1. it loads without console errors or page errors;
//   2. the wasm numbers after N steps equal the native `adaopt trace --json` numbers, bit for bit,
//      for several problems, optimizers and settings;
//   3. moving the activity slider (with the keyboard) changes AdaGrad's bars;
//   4. the controls work from the keyboard (Tab to Play, Space runs it, Space pauses it);
//   5. it is readable at 1280x800 and at phone width (no horizontal scrolling), with
//      screenshots of both saved as test artifacts.
// Usage: node tests/browser.test.mjs   (after `vite build`; env ADAOPT_CLI, ADAOPT_ARTIFACTS)
import { createServer } from 'node:http';
import { readFile, mkdir } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { extname, join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(here, '../dist');
const cli = process.env.ADAOPT_CLI || resolve(here, '../../build/adaopt');
const artifacts = process.env.ADAOPT_ARTIFACTS || resolve(here, '../../build-web');
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

// A static server for dist/ on a free port.
const server = createServer(async (req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  const file = join(dist, path === '/' ? 'index.html' : path);
  if (!file.startsWith(dist)) { res.writeHead(403).end(); return; }
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream' }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/`;
await mkdir(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
    '--disable-background-networking', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => window.__adaopt && window.__adaopt.ready, null, { timeout: 20000 });
  check((await page.locator('#bars rect').count()) === 8, 'four optimizers on by default, two bars each');

  // 2. wasm == native, bit for bit (the CLI prints floats with 9 digits and the loss with 17).
  const cases = [
    ['--problem sparse-regression --optimizer adagrad --lr 0.5 --activity 0.1', 200],
    ['--problem sparse-regression --optimizer adam --lr 0.1 --betas 0.9,0.999 --eps 1e-8 --activity 0.3', 150],
    ['--problem sparse-regression --optimizer rmsprop --lr 0.05 --alpha 0.9 --activity 1', 100],
    ['--problem rosenbrock --optimizer adam --lr 0.05', 500],
    ['--problem rosenbrock --optimizer sgd --lr 0.001 --momentum 0.9', 300],
    ['--problem rosenbrock --optimizer radam --lr 0.002', 120],
    ['--problem rosenbrock --optimizer sgd --lr 1', 40], // diverges: NaN in both
    ['--problem sparse-regression --optimizer nadam --lr 0.1 --seed 7 --activity 0.2', 80],
    ['--problem rosenbrock --optimizer lion --lr 0.003 --betas 0.9,0.99 --weight-decay 0.01', 400], // fmaf
    ['--problem rosenbrock --optimizer adamw_schedulefree --lr 0.01 --warmup-steps 50 --weight-decay 0.01', 400], // x
    ['--problem rosenbrock --optimizer lamb --lr 0.01 --weight-decay 0.01', 400], // the norms
    ['--problem rosenbrock --optimizer adafactor --lr 0.01 --weight-decay 0.01', 400],
    ['--problem rosenbrock --optimizer adadelta --lr 1 --rho 0.9 --eps 1e-6', 400],
    ['--problem rosenbrock --optimizer rprop --lr 0.01', 400], // the scalar loop's selects
    ['--problem sparse-regression --optimizer asgd --lr 0.05 --t0 20 --activity 0.3', 200], // eta, mu
  ];
  for (const [args, steps] of cases) {
    const native = JSON.parse(execFileSync(cli, ['trace', ...args.split(' '), '--steps', String(steps), '--json']).toString());
    const wasm = await page.evaluate(([a, n]) => window.__adaopt.trace(a, n), [args, steps]);
    // JSON writes NaN as null.
    const num = (v) => (v === null ? NaN : v);
    const eq = (a, b) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
    const same = (a, b) => a.length === b.length && a.every((v, i) => eq(Math.fround(num(v)), b[i]));
    check(same(native.x, wasm.x) && eq(num(native.loss), wasm.loss) && same(native.effective_lr, wasm.effective_lr),
      `wasm = native after ${steps} steps: ${args} (x ${wasm.x.map((v) => v.toPrecision(9)).join(', ')})`);
  }

  // Bad settings are refused with adaopt's message, not a crash.
  for (const [args, words] of [['--problem rosenbrock --optimizer adam --lr -1', 'lr'],
    ['--problem rosenbrock --optimizer adam --betas 0.9', 'betas'],
    ['--problem bowl --optimizer sgd', 'problem'], ['--problem rosenbrock --optimizer sgd --x0 1,x', 'x0'],
    ['--problem rosenbrock --optimizer adabelief', 'optimizer']]) {
    const message = await page.evaluate((a) => { try { window.__adaopt.trace(a, 1); return ''; } catch (e) { return e.message; } }, args);
    check(message.includes(words), `refused: ${args} (${message})`);
  }

  // 3. The activity slider moves AdaGrad's bars: run 60 steps at 0.1, then at a higher activity.
  const adagradAfter = async (steps) => {
    for (let i = 0; i < steps; i++) await page.click('#step');
    return (await page.evaluate(() => window.__adaopt.bars())).filter((b) => b.optimizer === 'adagrad');
  };
  const before = await adagradAfter(30);
  await page.focus('#activity');
  for (let i = 0; i < 20; i++) await page.keyboard.press('ArrowRight'); // 0.10 -> 0.50, resets
  check(Number(await page.inputValue('#activity')) > 0.45, 'the activity slider moves with the keyboard');
  const after = await adagradAfter(30);
  check(before.length === 2 && after.length === 2, 'AdaGrad has a bar per coordinate');
  check(Math.abs(after[1].value - before[1].value) > 1e-3 * before[1].value,
    `AdaGrad's sparse-coordinate bar changes with the activity (${before[1].value.toPrecision(4)} -> ${after[1].value.toPrecision(4)})`);

  // 4. Keyboard: Tab reaches Play; Space plays, Space pauses.
  await page.click('#reset');
  await page.focus('#problem');
  await page.keyboard.press('Shift+Tab'); // Reset
  await page.keyboard.press('Shift+Tab'); // Step
  await page.keyboard.press('Shift+Tab'); // Play
  check(await page.evaluate(() => document.activeElement.id === 'play'), 'Tab order reaches Play');
  await page.keyboard.press('Space');
  await page.waitForFunction(() => window.__adaopt.steps() > 20, null, { timeout: 10000 });
  await page.keyboard.press('Space');
  const paused = await page.evaluate(() => window.__adaopt.steps());
  await page.waitForTimeout(300);
  check(paused > 20 && (await page.evaluate(() => window.__adaopt.steps())) === paused,
    `Space plays and pauses (${paused} steps)`);
  await page.screenshot({ path: join(artifacts, 'page-1280x800.png') });

  // Rosenbrock, with all sixteen optimizers ticked.
  await page.selectOption('#problem', 'rosenbrock');
  for (const id of ['momentum', 'adamw', 'adamax', 'nadam', 'radam', 'lion', 'sfadamw', 'lamb', 'adafactor', 'adadelta', 'rprop', 'asgd']) await page.check(`#on-${id}`);
  for (let i = 0; i < 5; i++) await page.click('#step');
  check((await page.locator('#bars rect').count()) === 32, 'sixteen optimizers ticked, two bars each');
  check((await page.locator('#paths path').count()) === 16, 'sixteen paths on the contours');
  await page.screenshot({ path: join(artifacts, 'page-rosenbrock.png') });

  // 5. Phone width: everything fits (no horizontal scrolling).
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `no horizontal scrolling at 390 px (overflow ${overflow})`);
  await page.screenshot({ path: join(artifacts, 'page-390-phone.png'), fullPage: true });

  check(problems.length === 0, `no console errors or warnings${problems.length ? ': ' + problems.join(' | ') : ''}`);
} finally {
  await browser.close();
  server.close();
}
console.log(failures ? `FAILED: ${failures}` : `passed; screenshots in ${artifacts}`);
process.exit(failures ? 1 : 0);
