// main.js -- the seed-000 lab: optimizers racing on a loss surface, with their effective learning
// rates per coordinate.  Every number comes from the C library (adaopt.wasm); this file only
// draws (d3) and handles the controls.
import * as d3 from 'd3';
import { loadAdaopt } from './adaopt.js';
import wasmUrl from './generated/adaopt.wasm?url';

const OPTIMIZERS = [
  // name, label, lr on sparse-regression, lr on rosenbrock, on by default, extra flags
  { id: 'sgd', label: 'SGD', algo: 'sgd', lr: { 'sparse-regression': 0.05, rosenbrock: 0.001 }, on: true },
  { id: 'adagrad', label: 'AdaGrad', algo: 'adagrad', lr: { 'sparse-regression': 0.5, rosenbrock: 0.5 }, on: true },
  { id: 'rmsprop', label: 'RMSProp', algo: 'rmsprop', lr: { 'sparse-regression': 0.05, rosenbrock: 0.01 }, on: true },
  { id: 'adam', label: 'Adam', algo: 'adam', lr: { 'sparse-regression': 0.1, rosenbrock: 0.05 }, on: true },
  { id: 'momentum', label: 'SGD+mom.', algo: 'sgd', lr: { 'sparse-regression': 0.02, rosenbrock: 0.0005 }, on: false, extra: '--momentum 0.9' },
  { id: 'adamw', label: 'AdamW', algo: 'adamw', lr: { 'sparse-regression': 0.1, rosenbrock: 0.05 }, on: false },
  { id: 'adamax', label: 'Adamax', algo: 'adamax', lr: { 'sparse-regression': 0.1, rosenbrock: 0.05 }, on: false },
  { id: 'nadam', label: 'NAdam', algo: 'nadam', lr: { 'sparse-regression': 0.1, rosenbrock: 0.05 }, on: false },
  { id: 'radam', label: 'RAdam', algo: 'radam', lr: { 'sparse-regression': 0.1, rosenbrock: 0.002 }, on: false },
  { id: 'lion', label: 'Lion', algo: 'lion', lr: { 'sparse-regression': 0.01, rosenbrock: 0.001 }, on: false },
  { id: 'sfadamw', label: 'Schedule-Free AdamW', algo: 'adamw_schedulefree', lr: { 'sparse-regression': 0.1, rosenbrock: 0.01 }, on: false },
  { id: 'lamb', label: 'LAMB', algo: 'lamb', lr: { 'sparse-regression': 0.1, rosenbrock: 0.01 }, on: false },
  { id: 'adafactor', label: 'Adafactor', algo: 'adafactor', lr: { 'sparse-regression': 0.1, rosenbrock: 0.01 }, on: false },
  { id: 'adadelta', label: 'Adadelta', algo: 'adadelta', lr: { 'sparse-regression': 1, rosenbrock: 1 }, on: false },
  { id: 'rprop', label: 'Rprop', algo: 'rprop', lr: { 'sparse-regression': 0.01, rosenbrock: 0.01 }, on: false },
  { id: 'asgd', label: 'ASGD', algo: 'asgd', lr: { 'sparse-regression': 0.05, rosenbrock: 0.001 }, on: false },
];
const COLORS = [...d3.schemeTableau10, ...d3.schemeDark2]; // (one colour each, 18)
const BOX = {
  'sparse-regression': { x: [-3, 4], y: [-3, 4], min: [1.5, 2.0], names: ['w1 (always on)', 'w2 (sparse)'] },
  rosenbrock: { x: [-2, 2], y: [-1, 3], min: [1, 1], names: ['x', 'y'] },
};
const MAX_STEPS = 5000;

const $ = (id) => document.getElementById(id);
const state = { sessions: [], history: [], playing: false, adaopt: null };

function hyper() {
  return {
    problem: $('problem').value,
    activity: Number($('activity').value),
    beta1: Number($('beta1').value),
    beta2: Number($('beta2').value),
    rho: Number($('rho').value),
    eps: 10 ** Number($('eps').value),
  };
}

// The `adaopt trace` flags of one optimizer under the current controls.
function argsFor(o, h) {
  const lr = 10 ** Number($(`lr-${o.id}`).value);
  let a = `--problem ${h.problem} --optimizer ${o.algo} --lr ${lr} --activity ${h.activity}`;
  if (['adam', 'adamw', 'adamax', 'nadam', 'radam', 'lion', 'adamw_schedulefree', 'lamb'].includes(o.algo)) a += ` --betas ${h.beta1},${h.beta2}`;
  if (o.algo === 'rmsprop') a += ` --alpha ${h.rho}`;
  if (o.algo === 'adadelta') a += ` --rho ${h.rho}`;
  if (!['sgd', 'lion', 'adafactor', 'rprop', 'asgd'].includes(o.algo)) a += ` --eps ${h.eps}`;
  if (o.extra) a += ` ${o.extra}`;
  return a;
}

function buildOptimizerControls() {
  const box = $('optimizers');
  OPTIMIZERS.forEach((o, i) => {
    const row = document.createElement('div');
    row.className = 'opt-row';
    row.innerHTML = `
      <label><input type="checkbox" id="on-${o.id}" ${o.on ? 'checked' : ''}>
        <span class="swatch" style="background:${COLORS[i]}"></span>${o.label}</label>
      <input type="range" id="lr-${o.id}" min="-4" max="0.5" step="0.05"
        aria-label="${o.label} learning rate, log10">
      <output id="lr-${o.id}-out"></output>`;
    box.appendChild(row);
  });
}

function setDefaultRates() {
  const p = $('problem').value;
  for (const o of OPTIMIZERS) $(`lr-${o.id}`).value = Math.log10(o.lr[p]);
}

function showValues() {
  const h = hyper();
  $('activity-out').textContent = h.activity.toFixed(2);
  $('speed-out').textContent = $('speed').value;
  $('beta1-out').textContent = h.beta1.toFixed(2);
  $('beta2-out').textContent = h.beta2.toFixed(4);
  $('rho-out').textContent = h.rho.toFixed(3);
  $('eps-out').textContent = h.eps.toExponential(0);
  for (const o of OPTIMIZERS) $(`lr-${o.id}-out`).textContent = (10 ** Number($(`lr-${o.id}`).value)).toPrecision(2);
  $('activity-label').hidden = h.problem !== 'sparse-regression';
}

// New sessions from the controls (every change restarts the race from the start).
function reset() {
  for (const s of state.sessions) s.session.free();
  state.sessions = [];
  $('error').textContent = '';
  const h = hyper();
  OPTIMIZERS.forEach((o, i) => {
    if (!$(`on-${o.id}`).checked) return;
    try {
      const session = new state.adaopt.Session(argsFor(o, h));
      state.sessions.push({ o, color: COLORS[i], session, path: [session.x], losses: [[0, session.loss]] });
    } catch (e) {
      $('error').textContent = `${o.label}: ${e.message}`;
    }
  });
  drawContours();
  draw();
}

function step(n) {
  for (const s of state.sessions) {
    if (s.session.steps >= MAX_STEPS) continue;
    try {
      s.session.step(n);
    } catch (e) {
      $('error').textContent = `${s.o.label}: ${e.message}`;
      continue;
    }
    s.path.push(s.session.x);
    s.losses.push([s.session.steps, s.session.loss]);
  }
  draw();
}

// ---- drawing ---------------------------------------------------------------------------------

const SIZE = { w: 520, h: 480, m: { l: 44, r: 12, t: 10, b: 36 } };
let contourScales = null;

function drawContours() {
  const svg = d3.select('#contour').attr('viewBox', `0 0 ${SIZE.w} ${SIZE.h}`);
  svg.selectAll('*').remove();
  if (state.sessions.length === 0) return;
  const box = BOX[$('problem').value];
  const sx = d3.scaleLinear(box.x, [SIZE.m.l, SIZE.w - SIZE.m.r]);
  const sy = d3.scaleLinear(box.y, [SIZE.h - SIZE.m.b, SIZE.m.t]);
  contourScales = { sx, sy };
  const n = 90, probe = state.sessions[0].session, values = new Float64Array(n * n);
  for (let j = 0; j < n; j++)
    for (let i = 0; i < n; i++) {
      const x = box.x[0] + ((i + 0.5) * (box.x[1] - box.x[0])) / n;
      const y = box.y[0] + ((j + 0.5) * (box.y[1] - box.y[0])) / n;
      values[j * n + i] = Math.log10(probe.lossAt(x, y) + 1e-12);
    }
  const [lo, hi] = d3.extent(values);
  const contours = d3.contours().size([n, n]).thresholds(d3.range(lo, hi, (hi - lo) / 18))(values);
  const toPx = d3.geoTransform({
    point(i, j) {
      this.stream.point(sx(box.x[0] + (i * (box.x[1] - box.x[0])) / n), sy(box.y[0] + (j * (box.y[1] - box.y[0])) / n));
    },
  });
  const color = d3.scaleSequential(d3.interpolateBlues).domain([hi, lo]);
  svg.append('g').selectAll('path').data(contours).join('path')
    .attr('d', d3.geoPath(toPx)).attr('fill', (d) => color(d.value)).attr('fill-opacity', 0.55)
    .attr('stroke', '#7a8ea8').attr('stroke-width', 0.5);
  svg.append('g').attr('transform', `translate(0,${SIZE.h - SIZE.m.b})`).call(d3.axisBottom(sx).ticks(7));
  svg.append('g').attr('transform', `translate(${SIZE.m.l},0)`).call(d3.axisLeft(sy).ticks(7));
  svg.append('text').attr('x', SIZE.w / 2).attr('y', SIZE.h - 4).attr('text-anchor', 'middle').text(box.names[0]);
  svg.append('text').attr('transform', `translate(12,${SIZE.h / 2}) rotate(-90)`).attr('text-anchor', 'middle').text(box.names[1]);
  svg.append('path').attr('d', d3.symbol(d3.symbolStar, 90)()).attr('fill', '#d62728')
    .attr('transform', `translate(${sx(box.min[0])},${sy(box.min[1])})`);
  svg.append('clipPath').attr('id', 'plot-area').append('rect')
    .attr('x', SIZE.m.l).attr('y', SIZE.m.t)
    .attr('width', SIZE.w - SIZE.m.l - SIZE.m.r).attr('height', SIZE.h - SIZE.m.t - SIZE.m.b);
  svg.append('g').attr('id', 'paths').attr('clip-path', 'url(#plot-area)');
}

function drawPaths() {
  if (!contourScales) return;
  const { sx, sy } = contourScales;
  const g = d3.select('#paths');
  const line = d3.line().x((p) => sx(p[0])).y((p) => sy(p[1]));
  g.selectAll('path').data(state.sessions, (s) => s.o.id).join('path')
    .attr('d', (s) => line(s.path.filter((p) => p.every(Number.isFinite))))
    .attr('fill', 'none').attr('stroke', (s) => s.color).attr('stroke-width', 2);
  g.selectAll('circle').data(state.sessions, (s) => s.o.id).join('circle')
    .attr('r', 4.5).attr('fill', (s) => s.color).attr('stroke', '#fff')
    .attr('cx', (s) => sx(s.path[s.path.length - 1][0])).attr('cy', (s) => sy(s.path[s.path.length - 1][1]));
}

function drawBars() {
  const W = 520, H = 240, m = { l: 54, r: 10, t: 10, b: 50 };
  const svg = d3.select('#bars').attr('viewBox', `0 0 ${W} ${H}`);
  svg.selectAll('*').remove();
  const box = BOX[$('problem').value];
  const data = [];
  for (const s of state.sessions)
    s.session.effectiveLr.forEach((v, c) => data.push({ id: s.o.id, label: s.o.label, color: s.color, coord: c, value: v }));
  const finite = data.filter((d) => Number.isFinite(d.value) && d.value > 0);
  const x0 = d3.scaleBand(state.sessions.map((s) => s.o.id), [m.l, W - m.r]).padding(0.2);
  const x1 = d3.scaleBand([0, 1], [0, x0.bandwidth()]).padding(0.08);
  const ext = finite.length ? d3.extent(finite, (d) => d.value) : [1e-3, 1];
  const y = d3.scaleLog([Math.min(ext[0], ext[1] / 10) / 2, ext[1] * 2], [H - m.b, m.t]).clamp(true);
  svg.append('g').selectAll('rect').data(data).join('rect')
    .attr('x', (d) => x0(d.id) + x1(d.coord)).attr('width', x1.bandwidth())
    .attr('y', (d) => (Number.isFinite(d.value) && d.value > 0 ? y(d.value) : H - m.b))
    .attr('height', (d) => (Number.isFinite(d.value) && d.value > 0 ? H - m.b - y(d.value) : 0))
    .attr('fill', (d) => d.color).attr('fill-opacity', (d) => (d.coord === 0 ? 1 : 0.55))
    .attr('data-optimizer', (d) => d.id).attr('data-coord', (d) => d.coord).attr('data-value', (d) => d.value)
    .append('title').text((d) => `${d.label}, ${box.names[d.coord]}: ${d.value.toPrecision(4)}`);
  const ticks = svg.append('g').attr('transform', `translate(0,${H - m.b})`)
    .call(d3.axisBottom(x0).tickFormat((id) => OPTIMIZERS.find((o) => o.id === id).label));
  if (state.sessions.length > 5)
    ticks.selectAll('text').attr('transform', 'rotate(-25)').attr('text-anchor', 'end').attr('dx', '-0.2em');
  svg.append('g').attr('transform', `translate(${m.l},0)`).call(d3.axisLeft(y).ticks(5, '.0e'));
  svg.append('text').attr('x', W - m.r).attr('y', H - 6).attr('text-anchor', 'end')
    .text(`solid: ${box.names[0]}, pale: ${box.names[1]}`);
}

function drawLoss() {
  const W = 520, H = 230, m = { l: 54, r: 10, t: 10, b: 30 };
  const svg = d3.select('#loss').attr('viewBox', `0 0 ${W} ${H}`);
  svg.selectAll('*').remove();
  const all = state.sessions.flatMap((s) => s.losses).filter((p) => Number.isFinite(p[1]) && p[1] > 0);
  const maxStep = Math.max(10, d3.max(all, (p) => p[0]) || 10);
  const ext = all.length ? d3.extent(all, (p) => p[1]) : [1e-3, 1];
  // A diverging run must not flatten the others: the top is at most 100x the starting loss.
  const start = d3.max(state.sessions, (s) => s.losses[0][1]) || ext[1];
  const x = d3.scaleLinear([0, maxStep], [m.l, W - m.r]);
  const y = d3.scaleLog([Math.max(ext[0] / 2, 1e-12), Math.min(ext[1] * 2, start * 100)], [H - m.b, m.t]).clamp(true);
  const line = d3.line().x((p) => x(p[0])).y((p) => y(p[1])).defined((p) => Number.isFinite(p[1]) && p[1] > 0);
  svg.append('g').selectAll('path').data(state.sessions).join('path')
    .attr('d', (s) => line(s.losses)).attr('fill', 'none').attr('stroke', (s) => s.color).attr('stroke-width', 1.8);
  svg.append('g').attr('transform', `translate(0,${H - m.b})`).call(d3.axisBottom(x).ticks(6));
  svg.append('g').attr('transform', `translate(${m.l},0)`).call(d3.axisLeft(y).ticks(5, '.0e'));
}

function draw() {
  drawPaths();
  drawBars();
  drawLoss();
  const steps = state.sessions.length ? state.sessions[0].session.steps : 0;
  $('status').textContent = `step ${steps}`;
}

// ---- controls --------------------------------------------------------------------------------

function frame() {
  if (!state.playing) return;
  step(Number($('speed').value));
  if (state.sessions.every((s) => s.session.steps >= MAX_STEPS)) setPlaying(false);
  else requestAnimationFrame(frame);
}

function setPlaying(on) {
  state.playing = on;
  $('play').textContent = on ? 'Pause' : 'Play';
  $('play').setAttribute('aria-pressed', String(on));
  if (on) requestAnimationFrame(frame);
}

async function start() {
  buildOptimizerControls();
  setDefaultRates();
  showValues();
  state.adaopt = await loadAdaopt(wasmUrl);
  $('play').addEventListener('click', () => setPlaying(!state.playing));
  $('step').addEventListener('click', () => step(1));
  $('reset').addEventListener('click', () => { setPlaying(false); reset(); });
  $('problem').addEventListener('change', () => { setDefaultRates(); showValues(); reset(); });
  for (const el of document.querySelectorAll('#controls input'))
    el.addEventListener('input', () => { showValues(); if (el.id !== 'speed') reset(); });
  reset();
  // For the browser tests (and the curious): run a setting for n steps through the same code.
  window.__adaopt = {
    ready: true,
    trace(args, steps) {
      const s = new state.adaopt.Session(args);
      try {
        s.step(steps);
        return { x: s.x, loss: s.loss, effective_lr: s.effectiveLr, steps: s.steps };
      } finally {
        s.free();
      }
    },
    bars: () => Array.from(document.querySelectorAll('#bars rect'), (r) => ({
      optimizer: r.dataset.optimizer, coord: Number(r.dataset.coord), value: Number(r.dataset.value),
    })),
    steps: () => (state.sessions.length ? state.sessions[0].session.steps : 0),
  };
}

start().catch((e) => { $('error').textContent = `could not start: ${e.message}`; });
