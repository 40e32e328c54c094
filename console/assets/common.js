// riverwatch console: what every page shares. The language (Simplified Chinese by default,
// English with ?lang=en, kept in a cookie), times in UTC+8, the API with the session
// cookie (a 401 sends the officer to the sign-in page), the header, the live feed, and the
// labels of classes, rules and provinces. Every number shown comes from the HTTP API.
'use strict';

const RW = (() => {
  const lang = (() => {
    const q = new URLSearchParams(location.search).get('lang');
    if (q === 'en' || q === 'zh') {
      document.cookie = 'rw_lang=' + q + '; Path=/; SameSite=Strict; Max-Age=31536000';
      return q;
    }
    const m = document.cookie.match(/(?:^|;\s*)rw_lang=(en|zh)/);
    return m ? m[1] : 'zh';
  })();
  const t = (zh, en) => (lang === 'en' ? en : zh);

  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, (c) => (
      { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  }

  // Static text: Chinese in the HTML, English in data-en (and data-en-placeholder).
  function applyLang(root) {
    document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
    if (lang !== 'en') return;
    root.querySelectorAll('[data-en]').forEach((e) => { e.textContent = e.dataset.en; });
    root.querySelectorAll('[data-en-placeholder]').forEach((e) => { e.placeholder = e.dataset.enPlaceholder; });
    const title = document.querySelector('title');
    if (title && title.dataset.en) document.title = title.dataset.en;
  }

  // UTC+8, whatever the browser's zone: `2026-11-22 08:00`.
  function time(v, seconds) {
    if (v == null) return '—';
    const ms = typeof v === 'number' ? v : Date.parse(v);
    if (Number.isNaN(ms)) return String(v);
    const s = new Date(ms + 8 * 3600 * 1000).toISOString().replace('T', ' ');
    return s.slice(0, seconds ? 19 : 16);
  }
  const zone = () => t('北京时间', 'UTC+8');

  function age(secs) {
    if (secs == null) return t('无数据', 'no data');
    const m = Math.round(secs / 60);
    if (m < 1) return t('刚刚', 'just now');
    if (m < 60) return t(m + ' 分钟前', m + ' min ago');
    const h = Math.round(m / 6) / 10;
    if (h < 48) return t(h + ' 小时前', h + ' h ago');
    const d = Math.round(h / 2.4) / 10;
    return t(d + ' 天前', d + ' d ago');
  }

  function num(v, digits) {
    if (v == null || Number.isNaN(v)) return '—';
    const d = digits == null ? (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : Math.abs(v) >= 1 ? 2 : 3) : digits;
    return Number(v).toFixed(d);
  }

  // GB 3838 classes: the label shown on every mark (colour is never the only cue).
  const CLASSES = { I: ['Ⅰ', 1], II: ['Ⅱ', 2], III: ['Ⅲ', 3], IV: ['Ⅳ', 4], V: ['Ⅴ', 5], '劣V': ['劣Ⅴ', 6] };
  const classLabel = (c) => (c && CLASSES[c] ? CLASSES[c][0] : '—');
  const classNo = (c) => (c && CLASSES[c] ? CLASSES[c][1] : 0);
  const classText = (c) => (c ? t(classLabel(c) + '类', 'Class ' + classLabel(c)) : '—');
  const chip = (c, stale) => '<span class="chip ' + (stale ? 'stale' : 'k' + classNo(c)) + '">' + esc(classLabel(c)) + '</span>';

  const PROVINCES = { HLJ: ['黑龙江', 'Heilongjiang', '黑'], JL: ['吉林', 'Jilin', '吉'] };
  const province = (p) => (PROVINCES[p] ? t(PROVINCES[p][0], PROVINCES[p][1]) : (p || ''));
  const provinceShort = (p) => (PROVINCES[p] ? t(PROVINCES[p][2], p) : (p || ''));

  const RULES = {
    parameter_exceedance: ['参数超标', 'Parameter exceedance'],
    section_below_target: ['断面未达目标', 'Section below target'],
    class_change: ['类别变化', 'Class change'],
    discharge_exceedance: ['排放超标', 'Discharge exceedance'],
    aqi_level: ['空气质量级别', 'AQI level'],
    heavy_pollution_warning: ['重污染天气预警', 'Heavy pollution warning'],
    joint_control: ['区域联防联控', 'Joint control'],
    flood_level: ['水位超警', 'Flood level'],
    data_completeness: ['数据有效率不足', 'Data completeness'],
  };
  const rule = (r) => (RULES[r] ? t(RULES[r][0], RULES[r][1]) : r);
  const SEVERITY = { critical: ['严重', 'Critical'], warning: ['警告', 'Warning'], info: ['提示', 'Info'] };
  const severity = (s) => (SEVERITY[s] ? t(SEVERITY[s][0], SEVERITY[s][1]) : s);
  const STATES = { firing: ['告警中', 'firing'], resolved: ['已恢复', 'resolved'], notice: ['通知', 'notice'] };
  const alertState = (s) => (STATES[s] ? t(STATES[s][0], STATES[s][1]) : s);

  function signIn() {
    const next = location.pathname + location.search;
    location.assign('/signin?next=' + encodeURIComponent(next));
  }

  // The API with the session cookie; JSON in and out; errors carry the API's message.
  async function api(path, opts) {
    const o = Object.assign({ credentials: 'same-origin', headers: { Accept: 'application/json' } }, opts || {});
    if (o.json !== undefined) {
      o.method = o.method || 'POST';
      o.headers = { Accept: 'application/json', 'Content-Type': 'application/json' };
      o.body = JSON.stringify(o.json);
      delete o.json;
    }
    const r = await fetch(path, o);
    if (r.status === 401 && !(opts && opts.noRedirect)) {
      signIn();
      throw new Error(t('请先登录', 'please sign in'));
    }
    if (r.status === 204) return null;
    const body = await r.json().catch(() => null);
    if (!r.ok) {
      const e = new Error((body && body.message) || (r.status + ' ' + r.statusText));
      e.status = r.status;
      throw e;
    }
    return body;
  }

  let stations = null;
  async function stationMap() {
    if (!stations) {
      const list = await api('/api/v1/stations');
      stations = new Map(list.map((s) => [s.station.id, s]));
    }
    return stations;
  }
  const stationName = (s) => (s ? t(s.name_zh, s.name_pinyin) : '');

  // The header: brand, links, who is signed in, language, sign-out, live-feed state.
  async function init() {
    applyLang(document);
    const head = document.getElementById('top');
    const other = lang === 'en' ? 'zh' : 'en';
    const url = new URL(location.href);
    url.searchParams.set('lang', other);
    head.innerHTML = '<a class="brand" href="/">' + t('riverwatch 河流与空气监测值班台', 'riverwatch duty console') + '</a>'
      + '<a href="/">' + t('总览', 'Overview') + '</a>'
      + '<span class="spacer"></span>'
      + '<span id="live" class="live off">' + t('实时连接中断', 'live feed down') + '</span>'
      + '<span id="who"></span>'
      + '<a id="lang" href="' + esc(url.pathname + url.search) + '">' + (other === 'en' ? 'English' : '中文') + '</a>'
      + '<button id="signout" type="button">' + t('退出', 'Sign out') + '</button>'
      + '<span class="muted">' + zone() + '</span>';
    document.getElementById('signout').addEventListener('click', async () => {
      await fetch('/api/v1/session', { method: 'DELETE', credentials: 'same-origin' });
      location.assign('/signin');
    });
    const me = await api('/api/v1/session');
    const role = { viewer: t('只读', 'viewer'), duty: t('值班', 'duty'), admin: t('管理员', 'admin') }[me.role] || me.role;
    document.getElementById('who').textContent = me.name + ' · ' + (me.province ? province(me.province) : '') + ' ' + role;
    return me;
  }

  // The live feed: EventSource reconnects by itself with Last-Event-ID; a `resync` asks
  // the page to reload its data.
  function feed(handlers) {
    const es = new EventSource('/api/v1/stream');
    const live = () => document.getElementById('live');
    es.onopen = () => {
      const l = live();
      if (l) { l.className = 'live on'; l.textContent = t('实时', 'live'); }
    };
    es.onerror = () => {
      const l = live();
      if (l) { l.className = 'live off'; l.textContent = t('实时连接中断，重连中', 'live feed down, reconnecting'); }
    };
    for (const kind of ['reading', 'evaluation', 'alert']) {
      es.addEventListener(kind, (e) => {
        let data;
        try { data = JSON.parse(e.data); } catch (_) { return; }
        if (handlers[kind]) handlers[kind](data);
      });
    }
    es.addEventListener('resync', () => { if (handlers.resync) handlers.resync(); });
    return es;
  }

  // Coalesces bursts (a feed message per station) into one reload.
  function debounce(f, ms) {
    let timer = null;
    return () => {
      clearTimeout(timer);
      timer = setTimeout(f, ms);
    };
  }

  function fail(where, e) {
    const el = document.getElementById(where);
    if (el) el.innerHTML = '<p class="error">' + esc(e.message || e) + '</p>';
  }

  return {
    lang, t, esc, time, zone, age, num, classLabel, classNo, classText, chip, province,
    provinceShort, rule, severity, alertState, api, init, feed, debounce, fail, stationMap,
    stationName, applyLang,
  };
})();
