// Generate: a mode, a prompt and parameters, submitted as multipart to /api/tasks; the task followed over its event
// stream (queue position, then sampling steps) until the video is ready to watch and download.

import { ApiError, events, getJson, mediaUrl, request } from './api.js';
import { report, showNotice } from './ui.js';

const form = document.getElementById('generate-form');
const submit = document.getElementById('generate');
const cancel = document.getElementById('cancel');
const panel = document.getElementById('task');
const progress = document.getElementById('progress');
const progressText = document.getElementById('progress-text');
const stateText = document.getElementById('task-state');
const taskError = document.getElementById('task-error');
const result = document.getElementById('result');
const video = document.getElementById('result-video');

const help = {
  text: 'Describe the video and its sound.',
  image: 'Upload the first frame (and optionally the last); the prompt says what happens between.',
  refs: 'Upload 1 to 9 reference images of what should appear; the prompt says what it does.',
  extend: 'Upload a clip; the video continues it.',
  audio: 'Upload a sound; the video is made to match it.',
  edit: 'Upload a video; the prompt says what to change (for example "Make the red ball blue."). Its sound is kept.',
};
const modeFields = { image: ['image', 'last_frame'], refs: ['refs', 'ref_guidance'], extend: ['extend'], audio: ['audio'], edit: ['edit', 'source_guidance'] };
const always = ['prompt', 'negative', 'seconds', 'size', 'seed', 'steps', 'guidance'];

let mode = 'text';
let current = null;   // { id, abort }

document.querySelectorAll('.modes [data-mode]').forEach(tab => tab.addEventListener('click', () => setMode(tab.dataset.mode)));

function setMode(next) {
  mode = next;
  document.querySelectorAll('.modes [data-mode]').forEach(t => t.setAttribute('aria-selected', String(t.dataset.mode === mode)));
  document.querySelectorAll('fieldset.inputs').forEach(f => { f.hidden = f.dataset.for !== mode; });
  document.getElementById('mode-help').textContent = help[mode];
}

/** The served model's defaults, in the fields the user has not changed; the edit mode only where the model has one. */
export function setDefaults(model) {
  const editTab = document.querySelector('.modes [data-mode=edit]');
  editTab.disabled = !model.edit;
  editTab.title = model.edit ? 'Edit a video by the prompt' : 'this model has no edit mode';
  editTab.querySelector('small')?.toggleAttribute('hidden', Boolean(model.edit));
  if (!model.edit && mode === 'edit') setMode('text');
  const size = document.getElementById('size');
  const seconds = document.getElementById('seconds');
  if (!size.value) size.value = model.default_size;
  size.placeholder = model.default_size;
  if (!seconds.dataset.edited) seconds.value = model.default_seconds;
}

document.getElementById('seconds').addEventListener('input', e => { e.target.dataset.edited = 'true'; });

export async function enter() {
  setMode(mode);
}

/** The form as the API's fields: the mode's inputs only, empty fields left out, sound as no_audio. */
function fields() {
  const data = new FormData();
  const wanted = [...always, ...(modeFields[mode] ?? [])];
  for (const el of form.elements) {
    if (!el.name || !wanted.includes(el.name)) continue;
    if (el.type === 'file') for (const file of el.files) data.append(el.name, file);
    else if (el.value.trim() !== '') data.append(el.name, el.value.trim());
  }
  if (!document.getElementById('sound').checked) data.append('no_audio', 'true');
  return data;
}

function check() {
  if (!document.getElementById('prompt').value.trim()) return ['prompt', 'Write a prompt first.'];
  const need = { image: 'image', refs: 'refs', extend: 'extend', audio: 'audio', edit: 'edit' }[mode];
  const what = { image: 'a first frame', refs: 'reference images', extend: 'a clip', audio: 'a sound', edit: 'a video to edit' };
  if (need && !form.elements[need].files.length) return [need, `This mode needs ${what[need]}.`];
  if (mode === 'refs' && form.elements.refs.files.length > 9) return ['refs', 'Give at most 9 reference images.'];
  return null;
}

function markInvalid(param) {
  for (const el of form.elements) if (el.name) el.removeAttribute('aria-invalid');
  if (param && form.elements[param]) {
    const el = form.elements[param];
    el.setAttribute('aria-invalid', 'true');
    el.focus?.();
  }
}

form.addEventListener('submit', async e => {
  e.preventDefault();
  showNotice(null);
  const problem = check();
  markInvalid(problem?.[0]);
  if (problem) { showNotice(problem[1]); return; }
  submit.disabled = true;
  let task;
  try {
    task = await (await request('/api/tasks', { method: 'POST', body: fields() })).json();
  } catch (error) {
    submit.disabled = false;
    if (error instanceof ApiError) markInvalid(error.param);
    report(error);
    return;
  }
  try {
    await follow(task);
  } catch (error) {
    // the task could not be followed (deleted, or the server went away): say so and let the user go on
    submit.disabled = false;
    cancel.hidden = true;
    report(error);
  }
});

cancel.addEventListener('click', async () => {
  if (!current) return;
  cancel.disabled = true;
  try { await request(`/api/tasks/${current.id}/cancel`, { method: 'POST' }); }
  catch (error) { report(error); cancel.disabled = false; }
});

async function follow(task) {
  current?.abort.abort();
  current = { id: task.id, abort: new AbortController() };
  const mine = current;
  panel.hidden = false;
  result.hidden = true;
  taskError.hidden = true;
  video.removeAttribute('src');
  cancel.hidden = false;
  cancel.disabled = false;
  render(task);
  // the stream ends when the task finishes; a dropped connection is picked up again from the task's state
  while (!finished(task) && current === mine) {
    try {
      for await (const { data } of events(`/api/tasks/${task.id}/events`, mine.abort.signal)) {
        task = data;
        render(task);
      }
    } catch (error) {
      if (mine.abort.signal.aborted) return;
      console.warn('event stream dropped', error);
      await new Promise(r => setTimeout(r, 1000));
    }
    if (!finished(task)) task = await getJson(`/api/tasks/${task.id}`);
  }
  if (current !== mine) return;
  render(task);
  submit.disabled = false;
  cancel.hidden = true;
  if (task.state === 'succeeded') await showResult(task);
}

const finished = task => ['succeeded', 'failed', 'cancelled'].includes(task.state);

function render(task) {
  const percent = Math.round((task.progress ?? 0) * 100);
  progress.value = percent;
  progressText.textContent = `${percent} %`;
  panel.dataset.state = task.state;
  stateText.textContent = {
    queued: task.queue_position != null ? `Queued: position ${task.queue_position}` : 'Queued',
    running: task.cancel_requested ? 'Cancelling…'
      : task.phase === 'decoding' ? 'Decoding the frames and sound…'
      : task.phase === 'encoding' ? 'Encoding the MP4…'
      : `Sampling step ${task.step} of ${task.steps}`,
    succeeded: `Done: ${task.steps} steps`,
    failed: 'Failed',
    cancelled: 'Cancelled',
  }[task.state] ?? task.state;
  if (task.error) {
    taskError.textContent = `${task.error.message} (${task.error.code})`;
    taskError.hidden = false;
  }
}

async function showResult(task) {
  const links = task.links;
  video.src = await mediaUrl(links.video);
  for (const [id, path, ext] of [['dl-video', links.video, 'mp4'], ['dl-poster', links.poster, 'png'], ['dl-record', links.record, 'json']]) {
    const a = document.getElementById(id);
    a.href = await mediaUrl(path);
    a.download = `${task.id}.${ext}`;
  }
  result.hidden = false;
}
