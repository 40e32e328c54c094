// The overview: both rivers as a schematic from source to mouth with each section's
// current class (labelled, target outlined, province and boundary reach shown, stale
// sections greyed with their age), the cities' current AQI, joint control and warnings,
// and the live alert list. The live feed updates it without a reload; a new alert raises a
// banner and a short beep the officer can mute. One SVG for the whole network: a section
// is one small group, redrawn in one pass.
'use strict';

(async () => {
  const { t, esc } = RW;
  let me;
  try {
    me = await RW.init();
  } catch (e) {
    return;
  }
  const S = {
    rivers: [], stations: [], levels: [], params: new Map(), alerts: new Map(), announced: new Set(),
  };

  // ---- River schematic -------------------------------------------------------------
  const W = 1200;
  const LEFT = 120;
  const RIGHT = 40;
  const ROW = 200;
  const TOP = 112;
  // Lanes for section marks: offset of the mark's top from the river line.
  const LANES = [-38, 14, -92, 68];

  function rows(rivers) {
    const byId = new Map(rivers.map((r) => [r.id, r]));
    const offset = new Map();
    const off = (r, depth) => {
      if (offset.has(r.id)) return offset.get(r.id);
      const p = r.flows_into && byId.get(r.flows_into);
      const o = p && depth < 16 ? off(p, depth + 1) + (r.confluence_km || 0) - r.length_km : 0;
      offset.set(r.id, o);
      return o;
    };
    rivers.forEach((r) => off(r, 0));
    // Main stems first, each followed by its tributaries from its head downstream.
    const order = [];
    const visit = (r, depth) => {
      if (order.includes(r) || depth > 16) return;
      order.push(r);
      rivers.filter((c) => c.flows_into === r.id)
        .sort((a, b) => (a.confluence_km || 0) - (b.confluence_km || 0))
        .forEach((c) => visit(c, depth + 1));
    };
    rivers.filter((r) => !r.flows_into || !byId.has(r.flows_into)).forEach((r) => visit(r, 0));
    rivers.forEach((r) => visit(r, 0));
    const min = Math.min(...rivers.map((r) => offset.get(r.id)));
    const max = Math.max(...rivers.map((r) => offset.get(r.id) + r.length_km));
    const scale = (W - LEFT - RIGHT) / Math.max(1, max - min);
    return order.map((r, i) => ({
      river: r,
      y: TOP + i * ROW,
      x: (km) => LEFT + (offset.get(r.id) + km - min) * scale,
    }));
  }

  const textWidth = (s) => [...s].reduce((w, c) => w + (c.charCodeAt(0) > 255 ? 11 : 6.5), 0);

  function sectionSvg(st, x, y, lane) {
    const s = st.station;
    const c = st.current;
    const cls = c && c.class;
    const n = RW.classNo(cls);
    const top = y + LANES[lane];
    const above = LANES[lane] < 0;
    const stale = st.stale && c;
    const group = ['section', c ? '' : 'nodata', stale ? 'stale' : ''].join(' ').trim();
    const name = RW.stationName(s) + '·' + RW.provinceShort(s.province);
    const nameY = above ? top - 4 : top + 34;
    const ageY = above ? top - 15 : top + 45;
    const desc = [
      RW.stationName(s) + ' (' + RW.province(s.province) + (s.boundary ? t('，省界断面', ', boundary section') : '') + ')',
      t('当前', 'now ') + RW.classText(cls) + t('，目标', ', target ') + RW.classText(s.target_class),
      c && c.compliant === false ? t('未达标', 'below target') : c && c.compliant ? t('达标', 'meets target') : '',
      c ? RW.time(c.observed_at) + ' ' + RW.zone() + (st.stale ? t('（数据过期）', ' (stale)') : '') : t('尚无数据', 'no data yet'),
    ].filter(Boolean).join('；');
    let out = '<g class="' + group + '" data-station="' + esc(s.id) + '" data-class="' + esc(cls || '') + '" data-stale="' + (st.stale ? '1' : '0') + '">'
      + '<a href="/station/' + encodeURIComponent(s.id) + '"><title>' + esc(desc) + '</title>'
      + '<line class="axis" x1="' + x + '" x2="' + x + '" y1="' + (above ? top + 22 : top) + '" y2="' + y + '"/>';
    if (s.target_class) {
      out += '<rect class="target t' + RW.classNo(s.target_class) + '" x="' + (x - 21) + '" y="' + (top - 4) + '" width="42" height="30" rx="4"/>';
    }
    out += '<rect class="mark ' + (n ? 'c' + n : '') + '" x="' + (x - 17) + '" y="' + top + '" width="34" height="22" rx="3"/>'
      + '<text class="cls on-c' + n + '" x="' + x + '" y="' + (top + 11) + '">' + esc(c ? RW.classLabel(cls) : '—') + '</text>'
      + '<text class="name" x="' + x + '" y="' + nameY + '">' + esc(name) + '</text>';
    if (c && c.compliant === false) {
      out += '<circle class="badge" cx="' + (x + 17) + '" cy="' + top + '" r="7"/><text class="badge-text" x="' + (x + 17) + '" y="' + top + '">!</text>';
    }
    if (st.stale) {
      out += '<text class="age" x="' + x + '" y="' + ageY + '">' + esc(RW.age(st.age_secs)) + '</text>';
    }
    return out + '</a></g>';
  }

  function drawRivers() {
    const svg = document.getElementById('rivers');
    const layout = rows(S.rivers);
    const height = TOP + Math.max(0, layout.length - 1) * ROW + 130;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + height);
    let out = '<defs>'
      + '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f5f3ff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#a78bfa" stroke-width="2"/></pattern>'
      + '<pattern id="stale" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="5" height="5" fill="#e5e7eb"/><line x1="0" y1="0" x2="0" y2="5" stroke="#9ca3af" stroke-width="2"/></pattern>'
      + '</defs>';
    const rowOf = new Map(layout.map((l) => [l.river.id, l]));
    let marks = '';
    let counted = 0;
    for (const l of layout) {
      const r = l.river;
      const x0 = l.x(0);
      const x1 = l.x(r.length_km);
      const on = S.stations.filter((st) => st.station.kind === 'water' && st.station.river === r.id && st.station.river_km != null)
        .sort((a, b) => a.station.river_km - b.station.river_km);
      const bounds = on.filter((st) => st.station.boundary).map((st) => st.station.river_km);
      if (r.boundary_river && bounds.length) {
        const a = Math.max(0, Math.min(...bounds) - 10);
        const b = Math.min(r.length_km, Math.max(...bounds) + 10);
        out += '<rect class="boundary" x="' + l.x(a) + '" y="' + (l.y - 9) + '" width="' + Math.max(4, l.x(b) - l.x(a)) + '" height="18"><title>'
          + esc(t('黑龙江、吉林省界河段', 'Heilongjiang–Jilin boundary reach')) + '</title></rect>'
          + '<text class="boundary-label" x="' + l.x(b) + '" y="' + (l.y + 4) + '" dx="4">' + esc(t('省界河段', 'boundary reach')) + '</text>';
      }
      out += '<line class="river" x1="' + x0 + '" x2="' + x1 + '" y1="' + l.y + '" y2="' + l.y + '"/>'
        + '<text class="river-name" x="' + (x0 - 8) + '" y="' + (l.y + 5) + '" text-anchor="end">' + esc(t(r.name_zh, r.name_pinyin)) + '</text>'
        + '<text class="km" x="' + x0 + '" y="' + (l.y + 20) + '">' + esc(t('源', 'head')) + ' km 0</text>'
        + '<text class="km" x="' + x1 + '" y="' + (l.y + 20) + '" text-anchor="end">km ' + esc(r.length_km) + ' ' + esc(t('河口', 'mouth')) + '</text>';
      const parent = r.flows_into && rowOf.get(r.flows_into);
      if (parent) {
        const px = parent.x(r.confluence_km || 0);
        out += '<line class="confluence" x1="' + x1 + '" x2="' + px + '" y1="' + l.y + '" y2="' + parent.y + '"/>'
          + '<text class="km" x="' + (px + 4) + '" y="' + ((l.y + parent.y) / 2) + '">' + esc(t('汇入', 'joins ') + t(parent.river.name_zh, parent.river.name_pinyin) + ' km ' + (r.confluence_km || 0)) + '</text>';
      } else {
        out += '<text class="km" x="' + (x1 + 4) + '" y="' + (l.y + 4) + '">→</text>';
      }
      const right = LANES.map(() => -Infinity);
      for (const st of on) {
        const x = l.x(st.station.river_km);
        const w = Math.max(42, textWidth(RW.stationName(st.station) + '·吉'));
        let lane = right.findIndex((edge) => edge + 4 < x - w / 2);
        if (lane < 0) lane = right.indexOf(Math.min(...right));
        right[lane] = x + w / 2;
        marks += sectionSvg(st, x, l.y, lane);
        counted += 1;
      }
    }
    svg.innerHTML = out + marks;
    const stale = S.stations.filter((st) => st.station.kind === 'water' && st.stale).length;
    document.getElementById('rivers-note').textContent = t(
      counted + ' 个断面；' + stale + ' 个数据过期（灰色斜纹，标出最后读数距今时间）。虚线框为目标类别，红色“!”为未达标。点击断面查看详情。',
      counted + ' sections; ' + stale + ' stale (grey hatching, with the age of the last reading). Dashed frame: target class; red "!": below target. Click a section for details.');
  }

  function legend() {
    const sw = (inner) => '<svg width="40" height="22" viewBox="0 0 40 22">' + inner + '</svg>';
    let h = '';
    for (const c of ['I', 'II', 'III', 'IV', 'V', '劣V']) {
      const n = RW.classNo(c);
      h += '<span>' + sw('<rect class="mark c' + n + '" x="1" y="1" width="38" height="20" rx="3"/><text class="cls on-c' + n + '" x="20" y="11">' + esc(RW.classLabel(c)) + '</text>')
        + ' ' + esc(RW.classText(c)) + '</span>';
    }
    h += '<span>' + sw('<rect class="target t3" x="2" y="2" width="30" height="18" rx="3"/>') + ' ' + esc(t('目标类别（虚线框）', 'target class (dashed frame)')) + '</span>'
      + '<span>' + sw('<rect class="mark" fill="url(#stale)" x="1" y="1" width="32" height="20" rx="3"/>') + ' ' + esc(t('数据过期', 'stale')) + '</span>'
      + '<span>' + sw('<rect class="boundary" x="1" y="4" width="32" height="14"/>') + ' ' + esc(t('省界河段', 'boundary reach')) + '</span>'
      + '<span>' + esc(t('黑＝黑龙江，吉＝吉林', 'HLJ = Heilongjiang, JL = Jilin')) + '</span>';
    document.getElementById('legend').innerHTML = h;
  }

  function drawOthers() {
    const kinds = { outfall: t('排污口', 'outfall'), hydrology: t('水文站', 'gauge') };
    const others = S.stations.filter((st) => kinds[st.station.kind]);
    document.getElementById('others').innerHTML = others.map((st) => {
      const s = st.station;
      const c = st.current;
      const state = c && c.flood_state ? ' ' + esc(c.flood_state) : '';
      return '<a href="/station/' + encodeURIComponent(s.id) + '">' + esc(RW.stationName(s)) + '</a> (' + esc(kinds[s.kind]) + '·'
        + esc(RW.provinceShort(s.province)) + state + (st.stale ? '，' + esc(RW.age(st.age_secs)) : '') + ')';
    }).join('　');
  }

  // ---- Air ---------------------------------------------------------------------------
  function drawAqi() {
    const air = S.stations.filter((st) => st.station.kind === 'air');
    let h = '<table><thead><tr><th>' + t('城市', 'City') + '</th><th>AQI</th><th>' + t('级别', 'Level') + '</th><th>' + t('观测', 'Observed') + '</th></tr></thead><tbody>';
    for (const st of air) {
      const s = st.station;
      const c = st.current;
      const lvl = c && c.aqi_level ? S.levels.find((l) => l.level === c.aqi_level) : null;
      const badge = lvl
        ? '<span class="aqi-badge' + (lvl.level >= 4 ? ' dark' : '') + '" data-hex="' + esc(lvl.hex) + '">' + esc(t(lvl.level_zh + ' ' + lvl.category_zh, 'Level ' + lvl.level + ' ' + lvl.category_en)) + '</span>'
        : '—';
      h += '<tr class="' + (st.stale ? 'stale' : '') + '" data-station="' + esc(s.id) + '"><td><a href="/station/' + encodeURIComponent(s.id) + '">'
        + esc(t(s.city_zh || s.name_zh, s.name_pinyin)) + '</a> <span class="muted">' + esc(RW.provinceShort(s.province)) + '</span></td><td>'
        + esc(c && c.aqi != null ? c.aqi : '—') + '</td><td>' + badge + '</td><td>'
        + (st.stale ? '<span class="tag muted-tag">' + esc(t('过期', 'stale')) + '</span> ' : '') + esc(RW.age(st.age_secs)) + '</td></tr>';
    }
    const box = document.getElementById('aqi');
    box.innerHTML = h + '</tbody></table>';
    // HJ 633 colours from the API; set through the CSSOM (no inline style in markup).
    box.querySelectorAll('.aqi-badge').forEach((b) => { b.style.backgroundColor = b.dataset.hex; });
  }

  async function loadJoint() {
    const from = new Date(Date.now() - 3 * 86400 * 1000).toISOString();
    const q = '?from=' + encodeURIComponent(from);
    const [joint, warnings] = await Promise.all([
      RW.api('/api/v1/joint-control' + q).catch(() => []),
      RW.api('/api/v1/warnings' + q).catch(() => []),
    ]);
    const latest = joint.reduce((a, b) => (!a || b.date > a.date || (b.date === a.date && b.revision > a.revision) ? b : a), null);
    const WARN = { blue: ['蓝色预警', 'blue warning'], yellow: ['黄色预警', 'yellow warning'], orange: ['橙色预警', 'orange warning'], red: ['红色预警', 'red warning'] };
    let h = '<p>';
    if (!latest) {
      h += esc(t('联防联控：尚无评价', 'Joint control: not evaluated yet'));
    } else if (latest.active) {
      h += '<span class="tag bad">' + esc(t('联防联控已启动', 'Joint control ACTIVE')) + '</span> ' + esc(latest.date) + ' · '
        + esc(t('黑龙江：', 'HLJ: ') + (latest.heavy_hlj.join('、') || '—') + t('；吉林：', '; JL: ') + (latest.heavy_jl.join('、') || '—'));
    } else {
      h += '<span class="tag ok">' + esc(t('联防联控未启动', 'Joint control not active')) + '</span> ' + esc(latest.date);
    }
    h += '</p>';
    const byCity = new Map();
    for (const w of warnings) {
      const p = byCity.get(w.station);
      if (!p || w.date > p.date || (w.date === p.date && w.revision > p.revision)) byCity.set(w.station, w);
    }
    const active = [...byCity.values()].filter((w) => w.level !== 'none');
    h += active.length
      ? '<ul>' + active.map((w) => '<li><span class="tag bad">' + esc(WARN[w.level] ? t(WARN[w.level][0], WARN[w.level][1]) : w.level) + '</span> '
        + esc(w.city_zh) + ' · ' + esc(w.date) + ' · ' + esc(t('连续 ' + w.run_days + ' 天 AQI>200', w.run_days + ' days AQI>200')) + '</li>').join('') + '</ul>'
      : '<p class="muted">' + esc(t('当前无重污染天气预警', 'No heavy-pollution warning')) + '</p>';
    document.getElementById('joint').innerHTML = h;
  }

  // ---- Alerts ------------------------------------------------------------------------
  const SEV = { critical: 0, warning: 1, info: 2 };
  function alertLine(a) {
    const st = S.stations.find((x) => x.station.id === a.subject);
    const where = st ? RW.stationName(st.station) + '（' + RW.province(st.station.province) + '）' : (a.subject === 'REGION' ? t('区域', 'region') : a.subject);
    const p = a.parameter ? S.params.get(a.parameter) : null;
    const param = a.parameter ? ' · ' + (p ? t(p.name_zh, p.name_en) : a.parameter) : '';
    const e = a.event || {};
    let facts = '';
    if (a.value != null) facts += RW.num(a.value) + ' ' + (a.unit || '');
    if (a.limit != null) facts += ' / ' + t('限值 ', 'limit ') + RW.num(a.limit) + ' ' + (a.unit || '');
    if (e.class) facts += ' · ' + RW.classText(e.class) + (e.target ? t('（目标', ' (target ') + RW.classText(e.target) + t('）', ')') : '');
    if (e.exceedance_multiple != null) facts += ' · ' + t('超标 ', '') + RW.num(e.exceedance_multiple, 2) + t(' 倍', '× over');
    if (e.aqi != null) facts += ' · AQI ' + e.aqi;
    const acks = Object.keys(a.sides || {}).map((code) => {
      const k = a.acks && a.acks[code];
      return k
        ? '<span class="ack-yes">' + esc(RW.province(code) + ' ' + t('已确认', 'acknowledged') + ' ' + k.by) + '</span>'
        : '<span class="ack-no">' + esc(RW.province(code) + ' ' + t('未确认', 'not acknowledged')) + '</span>';
    }).join('');
    const tags = (a.silenced_by && a.silenced_by.length ? '<span class="tag muted-tag">' + esc(t('已静默', 'silenced')) + '</span>' : '')
      + (a.cross_border ? '<span class="tag">' + esc(t('跨界', 'cross-border')) + '</span>' : '')
      + (S.announced.has(a.id) ? '<span class="tag bad">' + esc(t('新', 'new')) + '</span>' : '');
    return '<li class="sev-' + esc(a.severity) + (S.announced.has(a.id) ? ' new' : '') + '" data-alert-id="' + esc(a.id) + '" data-subject="' + esc(a.subject) + '">'
      + '<a href="/alert/' + encodeURIComponent(a.id) + '"><span class="sev">' + esc(RW.severity(a.severity)) + '</span> '
      + esc(RW.rule(a.rule)) + ' · ' + esc(where) + esc(param) + '</a>' + tags
      + '<div>' + esc(facts) + '</div>'
      + '<div class="muted">' + esc(t('首次 ', 'first ') + RW.time(a.first_seen) + t('，最近 ', ', latest ') + RW.time(a.last_seen)) + '</div>'
      + '<div class="acks">' + acks + '</div></li>';
  }

  function drawAlerts() {
    const list = [...S.alerts.values()].sort((a, b) => (SEV[a.severity] - SEV[b.severity]) || (b.first_seen > a.first_seen ? 1 : -1));
    document.getElementById('alerts').innerHTML = list.length
      ? list.map(alertLine).join('')
      : '<li class="sev-info">' + esc(t('当前无告警', 'No alert firing')) + '</li>';
    document.getElementById('alert-count').textContent = String(list.length);
  }

  // ---- Sound ------------------------------------------------------------------------
  let audio = null;
  let muted = localStorage.getItem('rw_muted') === '1';
  const ensureAudio = () => {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!audio && Ctx) audio = new Ctx();
    if (audio && audio.state === 'suspended') audio.resume();
    soundButton();
  };
  function soundButton() {
    document.getElementById('sound').textContent = muted ? t('提示音：关（点击开启）', 'Sound: off (click to turn on)') : t('提示音：开（点击静音）', 'Sound: on (click to mute)');
    document.getElementById('sound-note').textContent = !muted && (!audio || audio.state !== 'running')
      ? t('浏览器要求先点击页面一次才能发声', 'the browser plays sound after a first click on the page') : '';
  }
  function beep() {
    if (muted || !audio || audio.state !== 'running') return;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = 'sine';
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.3, audio.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.35);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.4);
  }
  document.getElementById('sound').addEventListener('click', (ev) => {
    ev.stopPropagation();
    muted = !muted;
    localStorage.setItem('rw_muted', muted ? '1' : '0');
    ensureAudio();
  });
  document.addEventListener('click', ensureAudio, { once: true });

  function announce(a) {
    S.announced.add(a.id);
    const st = S.stations.find((x) => x.station.id === a.subject);
    const p = a.parameter ? S.params.get(a.parameter) : null;
    const text = t('新告警：', 'New alert: ') + RW.severity(a.severity) + ' · ' + RW.rule(a.rule) + ' · '
      + (st ? RW.stationName(st.station) : a.subject) + (p ? ' · ' + t(p.name_zh, p.name_en) : '')
      + (a.value != null ? ' ' + RW.num(a.value) + ' ' + (a.unit || '') : '') + ' · ' + RW.time(a.first_seen);
    document.getElementById('banner-text').textContent = text;
    document.getElementById('banner').hidden = false;
    beep();
  }
  document.getElementById('banner-close').addEventListener('click', () => { document.getElementById('banner').hidden = true; });

  function onAlert(a) {
    const prev = S.alerts.get(a.id);
    if (prev && prev.version > a.version) return;
    if (a.state === 'firing') {
      if (!prev) announce(a);
      S.alerts.set(a.id, a);
    } else {
      S.alerts.delete(a.id);
    }
    drawAlerts();
  }

  // ---- Loading -----------------------------------------------------------------------
  async function loadStations() {
    try {
      S.stations = await RW.api('/api/v1/stations');
      drawRivers();
      drawAqi();
      drawOthers();
    } catch (e) {
      RW.fail('rivers-note', e);
    }
  }
  async function loadAlerts() {
    try {
      const list = await RW.api('/api/v1/alerts?state=firing');
      S.alerts = new Map(list.map((a) => [a.id, a]));
      drawAlerts();
    } catch (e) {
      RW.fail('alerts', e);
    }
  }
  async function loadAll() {
    await Promise.all([loadStations(), loadAlerts(), loadJoint().catch((e) => RW.fail('joint', e))]);
  }

  legend();
  soundButton();
  try {
    const [rivers, levels, params] = await Promise.all([
      RW.api('/api/v1/rivers'), RW.api('/api/v1/aqi-levels'), RW.api('/api/v1/parameters'),
    ]);
    S.rivers = rivers;
    S.levels = levels;
    S.params = new Map(params.map((p) => [p.code, p]));
  } catch (e) {
    RW.fail('rivers-note', e);
    return;
  }
  await loadAll();
  const stations = RW.debounce(loadStations, 300);
  const joint = RW.debounce(() => loadJoint().catch(() => {}), 1000);
  RW.feed({
    reading: stations,
    evaluation: () => { stations(); joint(); },
    alert: onAlert,
    resync: loadAll,
  });
  // Ages move on even when nothing arrives.
  setInterval(loadStations, 60000);
  document.body.dataset.ready = '1';
  void me;
})();
