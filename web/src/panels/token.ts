/**
 * The admin token: asked once per tab (a dialog, not window.prompt, so it can be a password field),
 * kept in sessionStorage, sent as a Bearer header. A refused token is forgotten, so the next button
 * asks again.
 */
import { token } from '../api.js';
import { h } from '../dom.js';

let dialog: HTMLDialogElement | null = null;

/** The token of this tab, asking for it when there is none; null when the person cancels. */
export function adminToken(): Promise<string | null> {
  const known = token.get();
  if (known !== null) return Promise.resolve(known);
  return ask();
}

function ask(): Promise<string | null> {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true, placeholder: 'admin token' });
  dialog?.remove();
  const d = h(
    'dialog',
    { class: 'token-dialog' },
    h(
      'form',
      { method: 'dialog' },
      h('h3', {}, 'Admin token'),
      h('p', { class: 'muted' }, 'Changes need the token graylane serve was started with (GRAYLANE_ADMIN_TOKEN). It is kept for this tab only.'),
      input,
      h('div', { class: 'dialog-buttons' }, h('button', { value: 'cancel', type: 'submit', formnovalidate: true }, 'Cancel'), h('button', { value: 'ok', type: 'submit', class: 'primary' }, 'Use token')),
    ),
  );
  dialog = d;
  document.body.append(d);
  return new Promise((resolve) => {
    d.addEventListener('close', () => {
      const value = input.value.trim();
      d.remove();
      if (d.returnValue === 'ok' && value !== '') {
        token.set(value);
        resolve(value);
      } else resolve(null);
    });
    d.showModal();
    input.focus();
  });
}
