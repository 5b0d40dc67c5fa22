// The attack methods the page offers: GET /v1/methods when the server has it, else this
// built-in list of the current methods. Each method's options are a JSON schema (properties
// with defaults); the page renders one input per property and sends only the changed ones.
import { getJsonIfPresent } from './api.js';

const modifiers = {
  loss: { type: 'string', enum: ['ce', 'logit'], default: 'ce', title: 'Loss', description: 'ce: cross-entropy; logit: the class logit (Zhao et al. 2021).' },
  di: { type: 'boolean', default: false, title: 'Diverse inputs (di)', description: 'Random resize-and-pad before each gradient (Xie et al. 2019).' },
  ti: { type: 'integer', enum: [0, 7, 15], default: 0, title: 'Translation-invariant kernel (ti)', description: 'Gaussian smoothing of the gradients, 0 = off (Dong et al. 2019).' },
};
const alpha = { type: 'number', exclusiveMinimum: 0, maximum: 64, title: 'Step (alpha)', description: 'Step on the 0..255 scale; empty for the default.' };

const options = (extra = {}) => ({ type: 'object', properties: { ...extra, ...modifiers } });

export const BUILT_IN_METHODS = [
  { id: 'mng-l1', title: 'MNG, L1-normalised steps (default)', paper: 'advserve seed, NIPS 2017 competition entry', options: options() },
  { id: 'mng-l2', title: 'MNG, L2-normalised steps', paper: 'advserve seed, NIPS 2017 competition entry', options: options() },
  { id: 'fgsm', title: 'FGSM: one signed-gradient step', paper: 'Goodfellow et al. 2015, https://arxiv.org/abs/1412.6572', options: options() },
  { id: 'ifgsm', title: 'I-FGSM: iterated FGSM', paper: 'Kurakin et al. 2017, https://arxiv.org/abs/1607.02533', options: options({ alpha }) },
  {
    id: 'mi-fgsm',
    title: 'MI-FGSM: I-FGSM with momentum',
    paper: 'Dong et al. 2018, https://arxiv.org/abs/1710.06081',
    options: options({ alpha, mu: { type: 'number', minimum: 0, maximum: 10, default: 1, title: 'Momentum decay (mu)' } }),
  },
];

/** The server's list (GET /v1/methods answers 200), or the built-in one when it answers 404. */
export async function loadMethods() {
  let body;
  try {
    body = await getJsonIfPresent('/v1/methods');
  } catch {
    body = undefined; // the list is a convenience: any failure falls back to the built-in one
  }
  if (body === undefined) return { methods: BUILT_IN_METHODS, source: 'built-in' };
  const list = Array.isArray(body) ? body : body.methods;
  return Array.isArray(list) && list.length > 0 ? { methods: list, source: 'server' } : { methods: BUILT_IN_METHODS, source: 'built-in' };
}

let fieldCount = 0;

/** Inputs for a method's option schema; returns a function that reads the changed values. */
export function renderOptions(container, schema) {
  container.replaceChildren();
  const read = [];
  for (const [name, prop] of Object.entries(schema?.properties ?? {})) {
    const id = `option-${++fieldCount}`;
    const wrap = document.createElement('div');
    wrap.className = prop.type === 'boolean' ? 'option check' : 'option';
    const label = document.createElement('label');
    label.htmlFor = id;
    label.textContent = prop.title ?? name;
    let input;
    if (Array.isArray(prop.enum)) {
      input = document.createElement('select');
      for (const value of prop.enum) input.append(new Option(String(value), String(value), false, value === prop.default));
    } else {
      input = document.createElement('input');
      if (prop.type === 'boolean') {
        input.type = 'checkbox';
        input.checked = prop.default === true;
      } else if (prop.type === 'number' || prop.type === 'integer') {
        input.type = 'number';
        input.step = prop.type === 'integer' ? '1' : 'any';
        if (prop.minimum !== undefined) input.min = String(prop.minimum);
        if (prop.maximum !== undefined) input.max = String(prop.maximum);
        if (prop.default !== undefined) input.value = String(prop.default);
      } else {
        input.type = 'text';
        if (prop.default !== undefined) input.value = String(prop.default);
      }
    }
    input.id = id;
    input.name = name;
    if (prop.description) {
      const help = document.createElement('small');
      help.id = `${id}-help`;
      help.textContent = prop.description;
      input.setAttribute('aria-describedby', help.id);
      wrap.append(...(input.type === 'checkbox' ? [input, label, help] : [label, input, help]));
    } else {
      wrap.append(...(input.type === 'checkbox' ? [input, label] : [label, input]));
    }
    container.append(wrap);
    read.push(() => {
      const value = input.type === 'checkbox' ? String(input.checked) : input.value.trim();
      if (value === '' || value === String(prop.default ?? (prop.type === 'boolean' ? false : ''))) return undefined;
      return [name, value];
    });
  }
  return () => read.map((f) => f()).filter(Boolean);
}
