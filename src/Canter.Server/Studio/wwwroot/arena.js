// Arena: the next blind matchup (A is the left video, B the right), a vote, the reveal of both models, the next
// matchup; and the leaderboard (Bradley-Terry ratings as Elo with bootstrap 95 % intervals).

import { getJson, h, mediaUrl, postJson } from './api.js';
import { report } from './ui.js';

const match = document.getElementById('arena-match');
const emptyPanel = document.getElementById('arena-empty');
const buttons = [...document.querySelectorAll('#view-arena [data-outcome]')];
const next = document.getElementById('arena-next');
const resultText = document.getElementById('arena-result');
const videoA = document.getElementById('arena-a');
const videoB = document.getElementById('arena-b');
let matchup = null;

buttons.forEach(b => b.addEventListener('click', () => vote(b.dataset.outcome).catch(report)));
next.addEventListener('click', () => loadNext().catch(report));

export async function enter() {
  await Promise.all([loadNext(), leaderboard()]);
}

async function loadNext() {
  const answer = await getJson('/api/arena/next');
  showCounts(answer.counts, answer.your_votes);
  const c = answer.counts;
  matchup = answer.matchup;
  for (const el of [document.getElementById('reveal-a'), document.getElementById('reveal-b')]) el.textContent = '';
  resultText.textContent = '';
  next.hidden = true;
  if (!matchup) {
    videoA.pause(); videoB.pause();
    match.hidden = true;
    emptyPanel.hidden = false;
    document.getElementById('arena-message').textContent = answer.message;
    // only the shell part of the hint is for an empty arena; a voter who has judged everything needs just the message
    emptyPanel.querySelectorAll('pre, .muted').forEach(el => { el.hidden = c.matchups > 0; });
    return;
  }
  emptyPanel.hidden = true;
  match.hidden = false;
  match.dataset.matchup = matchup.id;
  document.getElementById('arena-prompt').textContent = matchup.prompt;
  videoA.src = await mediaUrl(matchup.left);
  videoB.src = await mediaUrl(matchup.right);
  buttons.forEach(b => { b.disabled = false; b.removeAttribute('aria-pressed'); });
}

async function vote(outcome) {
  if (!matchup) return;
  buttons.forEach(b => { b.disabled = true; });
  try {
    const answer = await postJson('/api/arena/votes', { matchup: matchup.id, outcome });
    buttons.find(b => b.dataset.outcome === outcome).setAttribute('aria-pressed', 'true');
    document.getElementById('reveal-a').textContent = `· ${answer.left.model}`;
    document.getElementById('reveal-b').textContent = `· ${answer.right.model}`;
    const said = { left: 'A is better', right: 'B is better', tie: 'a tie', both_bad: 'both bad' }[outcome];
    resultText.textContent = `Your vote: ${said}. A was ${answer.left.model}, B was ${answer.right.model}.`;
    showCounts(answer.counts, yours + 1);
    next.hidden = false;
    next.focus();
    await leaderboard();
  } catch (error) {
    buttons.forEach(b => { b.disabled = false; });
    throw error;
  }
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
let yours = 0;

function showCounts(c, mine) {
  yours = mine;
  document.getElementById('arena-counts').textContent =
    `${c.entries} ${c.entries === 1 ? 'entry' : 'entries'} · ${plural(c.matchups, 'matchup')} · ${plural(c.votes, 'vote')} by ${plural(c.voters, 'voter')} · ${mine} by you`;
}

const fmt = x => (x == null ? '—' : Math.round(x).toString());

async function leaderboard() {
  const board = await getJson('/api/arena/leaderboard');
  const rows = board.ratings.map(r => h('tr', { dataset: { model: r.model } },
    h('td', {}, r.rank ?? '—'),
    h('td', {}, r.model),
    h('td', { class: 'num' }, fmt(r.elo)),
    h('td', { class: 'num' }, r.low == null ? '—' : `${fmt(r.low)} – ${fmt(r.high)}`),
    h('td', { class: 'num' }, String(r.votes)),
    h('td', { class: 'num' }, `${r.wins} / ${r.ties} / ${r.losses}`),
    h('td', { class: 'num' }, String(r.both_bad))));
  document.querySelector('#leaderboard tbody').replaceChildren(...rows);
  document.getElementById('leaderboard-note').textContent = board.ratings.length === 0 ? 'No models yet.'
    : `${plural(board.votes, 'vote')} (${board.decided} decided, ${plural(board.ties, 'tie')}, ${board.both_bad} both bad). ` +
      `Ratings are Bradley-Terry strengths on the Elo scale (the mean of rated models at 1000; 400 points is 10 to 1 odds), ` +
      `with 95 % intervals from ${board.bootstrap} bootstrap resamples.` +
      (board.groups > 1 ? ' Some models were never compared with each other, so their gap rests on the prior alone.' : '');
}
