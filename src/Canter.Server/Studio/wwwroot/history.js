// History: the caller's generations, newest first, a page at a time (GET /api/tasks), with posters; a task opens in a
// dialog with its video, downloads and JSON record, and can be entered into the arena.

import { getJson, h, mediaUrl, postJson } from './api.js';
import { report } from './ui.js';

const list = document.getElementById('history-list');
const more = document.getElementById('history-more');
const empty = document.getElementById('history-empty');
const dialog = document.getElementById('history-detail');
const PAGE = 12;
let after = null;
let shown = null;

document.getElementById('history-refresh').addEventListener('click', () => enter().catch(report));
more.addEventListener('click', () => load().catch(report));

export async function enter() {
  list.replaceChildren();
  after = null;
  await load();
}

async function load() {
  const query = new URLSearchParams({ limit: PAGE });
  if (after) query.set('after', after);
  const page = await getJson(`/api/tasks?${query}`);
  for (const task of page.data) list.append(await card(task));
  after = page.last_id;
  more.hidden = !page.has_more;
  empty.hidden = list.children.length > 0;
}

async function card(task) {
  const poster = task.links.poster
    ? h('img', { src: await mediaUrl(task.links.poster), alt: `Poster of ${task.id}`, loading: 'lazy', width: 160 })
    : h('div', { class: 'no-poster' }, task.state === 'running' ? `${Math.round(task.progress * 100)} %` : '—');
  return h('li', { class: 'card', dataset: { id: task.id, state: task.state } },
    h('button', { type: 'button', class: 'card-open', onclick: () => openTask(task.id).catch(report) },
      poster,
      h('span', { class: `state ${task.state}` }, task.state),
      h('span', { class: 'card-prompt' }, task.request.prompt),
      h('time', { datetime: task.created_at }, new Date(task.created_at).toLocaleString())));
}

async function openTask(id) {
  const task = await getJson(`/api/tasks/${id}`);
  shown = task;
  document.getElementById('detail-title').textContent = `${task.id} · ${task.state}`;
  document.getElementById('detail-prompt').textContent = task.request.prompt;
  document.getElementById('detail-message').textContent = task.error ? `${task.error.message} (${task.error.code})` : '';
  const video = document.getElementById('detail-video');
  const downloads = document.getElementById('detail-downloads');
  const record = document.getElementById('detail-record');
  if (task.state === 'succeeded') {
    video.src = await mediaUrl(task.links.video);
    for (const [anchor, path] of [['detail-dl-video', task.links.video], ['detail-dl-poster', task.links.poster], ['detail-dl-record', task.links.record]])
      document.getElementById(anchor).href = await mediaUrl(path);
    record.textContent = JSON.stringify(await getJson(task.links.record), null, 2);
  } else {
    video.removeAttribute('src');
    record.textContent = JSON.stringify(task, null, 2);
  }
  video.hidden = downloads.hidden = task.state !== 'succeeded';
  dialog.showModal();
}

dialog.addEventListener('close', () => document.getElementById('detail-video').pause());

document.getElementById('detail-arena').addEventListener('click', async () => {
  const message = document.getElementById('detail-message');
  try {
    const entry = await postJson('/api/arena/entries', { task_id: shown.id });
    message.textContent = `Entered into the arena as entry ${entry.id}: ${entry.new_matchups} new matchup(s). ` +
      (entry.new_matchups === 0 ? 'Matchups appear once another model has an entry of the same prompt.' : '');
  } catch (error) {
    message.textContent = error.message;
  }
});
