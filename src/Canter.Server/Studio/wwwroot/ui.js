// What every view shares: the notice line under the header, and how an error is shown there.

import { ApiError } from './api.js';

const notice = document.getElementById('notice');

export function showNotice(message) {
  notice.textContent = message ?? '';
  notice.hidden = !message;
}

/** Shows an error on the page; a missing or wrong key opens the key box. */
export function report(error) {
  console.error(error);
  if (error instanceof ApiError && error.status === 401) {
    document.getElementById('key-box').open = true;
    showNotice(`${error.message}. Enter the API key above.`);
  } else {
    showNotice(error.message ?? String(error));
  }
}
