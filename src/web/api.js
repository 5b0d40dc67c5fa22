// Talking to the advserve API from the page: the API key, problem+json errors, and the
// attack's server-sent events read from a fetch() stream (EventSource cannot POST).

const KEY_STORAGE = 'advserve.apiKey';

export function apiKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return ''; // storage disabled: no key
  }
}

export function saveApiKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled: the key is not kept
  }
}

/** An error the API answered as problem+json (or a network failure dressed as one). */
export class ProblemError extends Error {
  constructor(problem) {
    super(problem.detail ?? problem.title ?? 'Request failed');
    this.problem = problem;
  }
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

/** The problem+json of a failed response (a plain stand-in when the body is something else). */
async function problemOf(res) {
  const text = await res.text();
  try {
    const body = JSON.parse(text);
    if (body && typeof body === 'object' && (body.title || body.detail)) return body;
  } catch {
    // not JSON
  }
  return { title: `HTTP ${res.status} ${res.statusText}`, status: res.status, detail: text.slice(0, 300) || 'The server gave no details.' };
}

async function request(path, init = {}) {
  let res;
  try {
    res = await fetch(path, { ...init, headers: headers(init.headers) });
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    throw new ProblemError({ title: 'Network error', detail: `Could not reach the server (${err?.message ?? err}).` });
  }
  if (!res.ok) throw new ProblemError(await problemOf(res));
  return res;
}

export async function getJson(path) {
  return (await request(path, { headers: { Accept: 'application/json' } })).json();
}

/** GET that resolves undefined on 404 (an endpoint this server does not have). */
export async function getJsonIfPresent(path) {
  try {
    return await getJson(path);
  } catch (err) {
    if (err instanceof ProblemError && err.problem.status === 404) return undefined;
    throw err;
  }
}

export async function postForm(path, form, signal) {
  return (await request(path, { method: 'POST', body: form, headers: { Accept: 'application/json' }, signal })).json();
}

/** Splits a text/event-stream body into events as they arrive. */
export async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue; // keep-alive comment
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length > 0) yield { event, data: data.join('\n') };
    }
  }
}

/**
 * POSTs an attack with Accept: text/event-stream; calls onProgress for each progress event and
 * resolves with the result. Errors before the stream (problem+json with a status) and error
 * events both reject with a ProblemError.
 */
export async function streamAttack(path, form, { onProgress, signal }) {
  const res = await request(path, { method: 'POST', body: form, headers: { Accept: 'text/event-stream' }, signal });
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/event-stream')) return res.json(); // a server that answers JSON anyway
  for await (const { event, data } of readEvents(res.body)) {
    const payload = JSON.parse(data);
    if (event === 'progress') onProgress(payload);
    else if (event === 'result') return payload;
    else if (event === 'error') throw new ProblemError(payload);
  }
  throw new ProblemError({ title: 'Stream ended', detail: 'The server closed the progress stream before the result.' });
}
