// The studio's shell: the three views (generate, history, arena) on their own paths, the API key box, and the served
// model's name in the header. Each view module exports enter(), called whenever its view is shown.

import { apiKey, ApiError, forgetMedia, getJson } from './api.js';
import { report, showNotice } from './ui.js';
import * as generate from './generate.js';
import * as historyView from './history.js';
import * as arena from './arena.js';

const views = { generate, history: historyView, arena };
function viewOf(pathname) {
  const name = pathname.replace(/^\/studio\/?/, '').replace(/\/$/, '');
  return views[name] ? name : 'generate';
}

function open(name) {
  document.querySelectorAll('.view').forEach(v => { v.hidden = v.dataset.view !== name; });
  document.querySelectorAll('nav [data-nav]').forEach(a => a.setAttribute('aria-current', a.dataset.nav === name ? 'page' : 'false'));
  document.title = `Canter studio · ${name[0].toUpperCase()}${name.slice(1)}`;
  showNotice(null);
  views[name].enter().catch(report);
}

document.addEventListener('click', e => {
  const link = e.target.closest('a[data-nav]');
  if (!link || e.ctrlKey || e.metaKey || e.shiftKey) return;
  e.preventDefault();
  if (location.pathname !== link.pathname) history.pushState(null, '', link.pathname);
  open(link.dataset.nav);
});
window.addEventListener('popstate', () => open(viewOf(location.pathname)));

function showKeyState() {
  document.getElementById('key-state').textContent = apiKey.get() ? 'set' : 'none';
}

document.getElementById('key-form').addEventListener('submit', e => {
  e.preventDefault();
  apiKey.set(document.getElementById('api-key').value);
  document.getElementById('api-key').value = '';
  document.getElementById('key-box').open = false;
  forgetMedia();
  showKeyState();
  loadModel();
  open(viewOf(location.pathname));
});
document.getElementById('key-clear').addEventListener('click', () => {
  apiKey.set('');
  forgetMedia();
  showKeyState();
});

async function loadModel() {
  try {
    const model = await getJson('/api/model');
    document.getElementById('model-info').textContent = `${model.id} · ${model.default_size} · ${model.frame_rate} fps`;
    generate.setDefaults(model);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) report(error);
  }
}

showKeyState();
loadModel();
open(viewOf(location.pathname));
