// The sign-in page: a token becomes the HttpOnly session cookie (POST /api/v1/session),
// then back to the page the officer came from (only a path of this console). The form
// posts to the API even without this script, so a token never lands in a URL.
'use strict';

(() => {
  RW.applyLang(document);
  const lang = document.getElementById('lang');
  lang.textContent = RW.lang === 'en' ? '中文' : 'English';
  lang.href = '/signin?lang=' + (RW.lang === 'en' ? 'zh' : 'en');
  const next = (() => {
    const n = new URLSearchParams(location.search).get('next') || '/';
    return n.startsWith('/') && !n.startsWith('//') && !n.startsWith('/signin') ? n : '/';
  })();
  document.getElementById('signin').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const msg = document.getElementById('message');
    msg.textContent = '';
    const token = document.getElementById('token').value.trim();
    try {
      await RW.api('/api/v1/session', { json: { token }, noRedirect: true });
      location.assign(next);
    } catch (e) {
      msg.textContent = e.status === 401 ? RW.t('令牌无效或已吊销', 'unknown or revoked token') : e.message;
    }
  });
  document.body.dataset.ready = '1';
})();
