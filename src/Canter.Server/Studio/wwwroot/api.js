// The server's API as the studio uses it: the key from localStorage on every request, ProblemDetails turned into
// errors, media fetched as blobs when a key is needed (a <video> cannot send headers), and Server-Sent Events read
// from fetch for the same reason.

const KEY = 'canter.apiKey';

export const apiKey = {
  get: () => localStorage.getItem(KEY) ?? '',
  set: (key) => key ? localStorage.setItem(KEY, key.trim()) : localStorage.removeItem(KEY),
};

/** An error from a ProblemDetails answer: its detail, status, code and the field at fault. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `request failed (${status})`);
    this.status = status;
    this.code = problem?.code;
    this.param = problem?.param;
  }
}

function headers(extra = {}) {
  const key = apiKey.get();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

/** fetch with the key; a non-2xx answer throws an ApiError. */
export async function request(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers), credentials: 'same-origin' });
  if (!response.ok) {
    let problem = null;
    try { problem = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, problem);
  }
  return response;
}

export const getJson = async (path, options) => (await request(path, options)).json();

export const postJson = async (path, body) =>
  (await request(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })).json();

const blobs = new Map();

/**
 * A URL a <video> or <img> can load: the path itself on an open server; with a key, an object URL of the fetched
 * file (kept, so each file is fetched once).
 */
export async function mediaUrl(path) {
  if (!apiKey.get()) return path;
  if (!blobs.has(path)) {
    const blob = await (await request(path)).blob();
    blobs.set(path, URL.createObjectURL(blob));
  }
  return blobs.get(path);
}

export function forgetMedia() {
  for (const url of blobs.values()) URL.revokeObjectURL(url);
  blobs.clear();
}

/** Reads a Server-Sent Events stream, yielding {event, data} with data parsed as JSON. */
export async function* events(path, signal) {
  const response = await request(path, { signal, headers: { Accept: 'text/event-stream' } });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length) yield { event, data: JSON.parse(data.join('\n')) };
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/** Makes an element from a tag, properties and children (strings become text, never HTML). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? '' : v);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) el.append(child);
  return el;
}

export function show(el, visible = true) { el.hidden = !visible; }
