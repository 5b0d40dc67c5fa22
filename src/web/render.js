// Drawing the results: the amplified perturbation, prediction bars, metrics, progress.

const percent = (p) => `${(p * 100).toFixed(p >= 0.995 || p < 0.001 ? 0 : 1)}%`;

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** Resolves once an <img> has decoded its current src. */
export function loaded(img) {
  return img.complete && img.naturalWidth > 0 ? Promise.resolve(img) : img.decode().then(() => img);
}

function pixels(img, width, height) {
  const canvas = el('canvas', { width, height });
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(img, 0, 0, width, height);
  return ctx.getImageData(0, 0, width, height).data;
}

/**
 * adv - orig per channel, amplified by 127/eps around mid-grey (a change of +eps is white,
 * -eps black), drawn on a canvas; returns a PNG data URL.
 */
export function perturbationUrl(original, adversarial, eps) {
  const width = adversarial.naturalWidth;
  const height = adversarial.naturalHeight;
  const a = pixels(original, width, height);
  const b = pixels(adversarial, width, height);
  const canvas = el('canvas', { width, height });
  const ctx = canvas.getContext('2d');
  const out = ctx.createImageData(width, height);
  const gain = 127 / eps;
  for (let i = 0; i < out.data.length; i += 4) {
    for (let c = 0; c < 3; c++) out.data[i + c] = Math.max(0, Math.min(255, Math.round(128 + (b[i + c] - a[i + c]) * gain)));
    out.data[i + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
  return canvas.toDataURL('image/png');
}

/** Bars of one classifier's top classes. */
function bars(title, top, highlight) {
  const list = el('ol', { className: 'bars' });
  for (const { label, prob } of top) {
    const bar = el('span', { className: 'bar' });
    bar.style.setProperty('--p', String(Math.max(0, Math.min(1, prob))));
    const item = el('li', { className: label === highlight ? 'hit' : '' }, [
      el('span', { className: 'bar-label', textContent: label }),
      el('span', { className: 'bar-track' }, [bar]),
      el('span', { className: 'bar-value', textContent: percent(prob) }),
    ]);
    item.setAttribute('aria-label', `${label}: ${percent(prob)}`);
    list.append(item);
  }
  return el('div', { className: 'bar-group' }, [el('h4', { textContent: title }), list]);
}

/**
 * Prediction bars for the ensemble and each model. `predictions` is a /v1/classify answer
 * ({models: [{id, top}], ensemble: {top}}); the container gets data-ensemble-top.
 */
export function showPredictions(container, predictions, highlight) {
  container.replaceChildren(
    bars('Ensemble', predictions.ensemble.top, highlight),
    ...predictions.models.map((m) => bars(m.id, m.top, highlight)),
  );
  container.dataset.ensembleTop = predictions.ensemble.top[0]?.label ?? '';
}

/** The attack result's top-1 verdicts as a classify-shaped answer (when /v1/classify is not allowed). */
export function verdicts(result, when) {
  const one = (v) => [{ label: v[when].label, prob: v[when].prob }];
  return { ensemble: { top: one(result.ensemble) }, models: result.models.map((m) => ({ id: m.id, top: one(m) })) };
}

export function showMetrics(dl, result) {
  const rows = [
    ['Success', result.success ? 'yes' : 'no'],
    [result.targeted ? 'Target' : 'Class aimed at / moved from', result.target.label],
    ['Ensemble after', `${result.ensemble.after.label} (${percent(result.ensemble.after.prob)}), target ${percent(result.ensemble.after.targetProb)}`],
    ['L∞ (0..255)', String(result.linf)],
    ['L2 (0..255)', result.l2.toFixed(1)],
    ['Time', `${(result.elapsedMs / 1000).toFixed(1)} s`],
    ['Method', `${result.method}, eps ${result.eps}, ${result.iterations} iterations`],
  ];
  dl.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { textContent: k }), el('dd', { textContent: v })]));
}

/** One progress report: the bar, a sentence, and each model's view. */
export function showProgress(box, p) {
  box.hidden = false;
  box.dataset.iteration = String(p.iteration);
  box.dataset.iterations = String(p.iterations);
  const bar = box.querySelector('progress');
  bar.max = p.iterations;
  bar.value = p.iteration;
  box.querySelector('p').textContent =
    `Iteration ${p.iteration} of ${p.iterations}: the ensemble sees ${p.ensemble.label} (${percent(p.ensemble.prob)}); ` +
    `${p.target.label}: ${percent(p.ensemble.targetProb)}.`;
  const table = box.querySelector('table');
  const head = el('tr', {}, ['Model', 'Top class', 'Target prob.'].map((t) => el('th', { scope: 'col', textContent: t })));
  table.replaceChildren(
    head,
    ...p.models.map((m) => el('tr', {}, [el('td', { textContent: m.id }), el('td', { textContent: `${m.label} (${percent(m.prob)})` }), el('td', { textContent: percent(m.targetProb) })])),
  );
}

export function startProgress(box, text) {
  box.hidden = false;
  delete box.dataset.iteration;
  delete box.dataset.iterations;
  box.querySelector('progress').removeAttribute('value');
  box.querySelector('p').textContent = text;
  box.querySelector('table').replaceChildren();
}

/** The defense evaluation's table: one row per defense. */
export function showDefenseTable(table, body) {
  const head = el('tr', {}, ['Defense', 'Images', 'Hits (= target)', 'Hit rate', 'Misses (≠ clean label)', 'Miss rate', 'Predictions'].map((t) => el('th', { scope: 'col', textContent: t })));
  const rows = body.defenses.map((d) =>
    el('tr', {}, [
      el('th', { scope: 'row', textContent: d.defense }),
      el('td', { textContent: String(d.n) }),
      el('td', { textContent: d.hits === null ? '–' : String(d.hits) }),
      el('td', { textContent: d.hitRate === null ? '–' : percent(d.hitRate) }),
      el('td', { textContent: String(d.misses) }),
      el('td', { textContent: percent(d.missRate) }),
      el('td', { textContent: d.predictions.map((p) => `${p.name ?? `#${p.image}`}: ${p.label} (${percent(p.prob)})`).join('; ') }),
    ]),
  );
  table.replaceChildren(head, ...rows);
  table.hidden = false;
}
