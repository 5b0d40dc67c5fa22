// The advserve page: tabs, the API key, the attack form with live progress, and the
// defense evaluation. Plain ES modules; the server's CSP allows no inline script.
import { ProblemError, apiKey, getJson, postForm, saveApiKey, streamAttack } from './api.js';
import { loadMethods, renderOptions } from './methods.js';
import { loaded, perturbationUrl, showDefenseTable, showMetrics, showPredictions, showProgress, startProgress, verdicts } from './render.js';

const $ = (id) => document.getElementById(id);
const state = { models: [], methods: [], readOptions: () => [], file: undefined, running: undefined, urls: [] };

// ---- errors ---------------------------------------------------------------------------------

function showError(err) {
  const box = $('error');
  const problem = err instanceof ProblemError ? err.problem : { title: 'Error', detail: String(err?.message ?? err) };
  const title = document.createElement('strong');
  title.textContent = problem.title ?? 'Error';
  const detail = document.createElement('span');
  detail.textContent = ` ${problem.detail ?? ''}`;
  box.replaceChildren(title, detail);
  if (problem.status) box.dataset.status = String(problem.status);
  box.hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').replaceChildren();
  delete $('error').dataset.status;
}

// ---- tabs (WAI-ARIA tabs: arrow keys, Home/End) ---------------------------------------------

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !on;
    }
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => select(tab));
    tab.addEventListener('keydown', (e) => {
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (next === undefined) return;
      e.preventDefault();
      const target = tabs[(next + tabs.length) % tabs.length];
      select(target);
      target.focus();
    });
  });
}

// ---- API key ---------------------------------------------------------------------------------

function setupKey() {
  $('api-key').value = apiKey();
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    saveApiKey($('api-key').value.trim());
    $('service-status').textContent = $('api-key').value ? 'API key saved in this browser.' : 'No API key.';
  });
  $('forget-key').addEventListener('click', () => {
    $('api-key').value = '';
    saveApiKey('');
    $('service-status').textContent = 'API key forgotten.';
  });
}

// ---- models, labels, methods ------------------------------------------------------------------

function selectedModels() {
  return [...$('models').querySelectorAll('input:checked')].map((i) => i.value);
}

/** Labels shared by the selected models (all of them when none is ticked). */
function refreshLabels() {
  const chosen = selectedModels();
  const models = state.models.filter((m) => chosen.length === 0 || chosen.includes(m.id));
  let labels = models[0]?.labels ?? [];
  for (const m of models.slice(1)) {
    const set = new Set(m.labels);
    labels = labels.filter((l) => set.has(l));
  }
  $('labels').replaceChildren(...labels.map((l) => new Option(l)));
}

function renderModels(body) {
  state.models = body.models;
  $('models').replaceChildren(
    ...body.models.map((m) => {
      const input = Object.assign(document.createElement('input'), { type: 'checkbox', value: m.id, checked: true, id: `model-${m.id}`, name: 'models' });
      const label = Object.assign(document.createElement('label'), { htmlFor: input.id, textContent: `${m.id} (${m.inputSize.join('×')}, ${m.classes} classes)` });
      const row = document.createElement('div');
      row.className = 'check';
      row.append(input, label);
      return row;
    }),
  );
  $('models').addEventListener('change', refreshLabels);
  refreshLabels();
  const suggestions = body.models.flatMap((m) => [m.id, `jpeg75+${m.id}`, `median3+${m.id}`, `bits3+${m.id}`, `resize-pad+${m.id}`]);
  $('defense-suggestions').replaceChildren(...suggestions.map((s) => new Option(s)));
  $('service-status').textContent = `${body.models.length} model${body.models.length === 1 ? '' : 's'} loaded (${body.backend}).`;
}

/** GET /v1/methods gives { authors, year, title, url }; the built-in list gives a line of text. */
function paperText(paper) {
  return typeof paper === 'string' ? paper : `${paper.authors} ${paper.year}, "${paper.title}", ${paper.url}`;
}

function renderMethods({ methods, source }) {
  state.methods = methods;
  $('method').replaceChildren(...methods.map((m) => new Option(m.title ? `${m.id}: ${m.title}` : m.id, m.id)));
  $('method').dataset.source = source;
  const update = () => {
    const m = methods.find((x) => x.id === $('method').value) ?? methods[0];
    $('method-about').textContent = m.paper ? `Paper: ${paperText(m.paper)}` : '';
    state.readOptions = renderOptions($('method-options'), m.options);
  };
  $('method').addEventListener('change', update);
  update();
}

// ---- the image ---------------------------------------------------------------------------------

function objectUrl(blob) {
  const url = URL.createObjectURL(blob);
  state.urls.push(url);
  return url;
}

function chooseFile(file) {
  if (!file) return;
  state.file = file;
  const preview = $('preview');
  preview.hidden = false;
  preview.addEventListener('error', () => (preview.hidden = true), { once: true }); // not an image: the server will say why
  preview.src = objectUrl(file);
}

function setupImageInput() {
  $('image-input').addEventListener('change', (e) => chooseFile(e.target.files[0]));
  const drop = $('drop');
  for (const name of ['dragenter', 'dragover']) {
    drop.addEventListener(name, (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
  }
  for (const name of ['dragleave', 'drop']) drop.addEventListener(name, () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    const file = e.dataTransfer?.files?.[0];
    if (file) chooseFile(file);
  });
}

// ---- the attack ----------------------------------------------------------------------------------

function attackForm() {
  const form = new FormData();
  const targeted = $('mode').value === 'targeted';
  if (targeted) form.append('target', $('target').value.trim());
  else form.append('target_selection', $('target-selection').value);
  form.append('eps', $('eps').value.trim());
  form.append('iterations', $('iterations').value.trim());
  form.append('method', $('method').value);
  const models = selectedModels();
  if (models.length > 0 && models.length < state.models.length) form.append('models', models.join(','));
  for (const [name, value] of state.readOptions()) form.append(name, value);
  form.append('image', state.file, state.file.name || 'image');
  return { form, path: targeted ? '/v1/attack/targeted' : '/v1/attack/untargeted', models };
}

/** Top-5 bars from /v1/classify; the attack's own top-1 verdicts when classify is refused. */
async function predictions(blob, models, result, when) {
  const form = new FormData();
  if (models.length > 0 && models.length < state.models.length) form.append('models', models.join(','));
  form.append('top_k', '5');
  form.append('image', blob, 'image.png');
  try {
    return await postForm('/v1/classify', form);
  } catch {
    return verdicts(result, when);
  }
}

async function showResult(result, models) {
  const png = Uint8Array.from(atob(result.image), (c) => c.charCodeAt(0));
  const adversarialBlob = new Blob([png], { type: 'image/png' });
  const original = $('result-original');
  const adversarial = $('result-adversarial');
  original.src = objectUrl(state.file);
  adversarial.src = objectUrl(adversarialBlob);
  $('result').hidden = false;
  await Promise.all([loaded(original), loaded(adversarial)]);
  $('result-perturbation').src = perturbationUrl(original, adversarial, result.eps);
  $('perturbation-caption').textContent = `Perturbation ×${(127 / result.eps).toFixed(1)} around grey`;
  const download = $('download');
  download.href = adversarial.src;
  download.download = `${(state.file.name || 'image').replace(/\.[^.]+$/, '')}-adversarial.png`;
  showMetrics($('metrics'), result);
  const highlight = result.target.label;
  const [before, after] = await Promise.all([predictions(state.file, models, result, 'before'), predictions(adversarialBlob, models, result, 'after')]);
  showPredictions($('predictions-before'), before, highlight);
  showPredictions($('predictions-after'), after, highlight);
  $('result-title').focus();
}

function validate() {
  if (!state.file) return 'Choose an image first (file picker or drag and drop).';
  if ($('mode').value === 'targeted' && !$('target').value.trim()) return 'Choose a target class.';
  return undefined;
}

async function runAttack(e) {
  e.preventDefault();
  clearError();
  const problem = validate();
  if (problem) return showError(new ProblemError({ title: 'Missing input', detail: problem }));
  const { form, path, models } = attackForm();
  const controller = new AbortController();
  state.running = controller;
  $('run').disabled = true;
  $('cancel').disabled = false;
  $('result').hidden = true;
  startProgress($('progress'), 'Starting…');
  try {
    const result = await streamAttack(path, form, { onProgress: (p) => showProgress($('progress'), p), signal: controller.signal });
    $('progress').querySelector('p').textContent += ' Done.';
    await showResult(result, models);
  } catch (err) {
    if (err?.name === 'AbortError') $('progress').querySelector('p').textContent = 'Cancelled.';
    else {
      $('progress').hidden = true;
      showError(err);
    }
  } finally {
    state.running = undefined;
    $('run').disabled = false;
    $('cancel').disabled = true;
  }
}

function setupAttack() {
  $('mode').addEventListener('change', () => {
    const targeted = $('mode').value === 'targeted';
    $('targeted-fields').hidden = !targeted;
    $('untargeted-fields').hidden = targeted;
  });
  $('attack-form').addEventListener('submit', runAttack);
  $('cancel').addEventListener('click', () => state.running?.abort());
  setupImageInput();
}

// ---- defense evaluation ----------------------------------------------------------------------------

function setupDefense() {
  $('defense-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError();
    const files = [...$('defense-images').files];
    if (files.length === 0) return showError(new ProblemError({ title: 'Missing input', detail: 'Choose one or more adversarial images.' }));
    const form = new FormData();
    for (const [field, id] of [['labels', 'defense-labels'], ['targets', 'defense-targets'], ['defenses', 'defenses']]) {
      const value = $(id).value.trim();
      if (value) form.append(field, value);
    }
    for (const file of files) form.append('images', file, file.name);
    $('evaluate').disabled = true;
    $('defense-status').textContent = `Evaluating ${files.length} image${files.length === 1 ? '' : 's'}…`;
    try {
      showDefenseTable($('defense-table'), await postForm('/v1/defense/evaluate', form));
      $('defense-status').textContent = 'Done.';
    } catch (err) {
      $('defense-status').textContent = '';
      showError(err);
    } finally {
      $('evaluate').disabled = false;
    }
  });
}

// ---- start -----------------------------------------------------------------------------------------

/** GET /v1/models, waiting while the service answers 503 (models still loading). */
async function modelsWhenReady() {
  for (;;) {
    try {
      return await getJson('/v1/models');
    } catch (err) {
      if (!(err instanceof ProblemError) || err.problem.status !== 503) throw err;
      $('service-status').textContent = `${err.problem.detail ?? 'The models are loading.'} Retrying…`;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

async function start() {
  setupTabs();
  setupKey();
  setupAttack();
  setupDefense();
  try {
    const [models, methods] = await Promise.all([modelsWhenReady(), loadMethods()]);
    renderModels(models);
    renderMethods(methods);
    document.body.dataset.ready = 'true';
  } catch (err) {
    $('service-status').textContent = 'The service did not answer as expected.';
    showError(err);
  }
}

void start();
