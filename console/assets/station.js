// The station page: what the station is and where it stands now (class against target or
// AQI, valid-data rate of the latest day and month), charts of the last day, week or
// month of every parameter against its target-class limit (gaps as gaps, flags shown),
// and its recent events and alerts. Readings arrive on the live feed.
'use strict';

(async () => {
  const { t, esc } = RW;
  const id = decodeURIComponent(location.pathname.split('/').pop());
  try {
    await RW.init();
  } catch (e) {
    return;
  }
  let days = 1;
  let st = null;
  let limits = null;
  let params = new Map();

  const FLAGS = {
    N: ['正常', 'normal'], S: ['手工', 'manual'], F: ['停运', 'stopped'], M: ['维护', 'maintenance'],
    D: ['故障', 'fault'], C: ['校准', 'calibration'], T: ['超量程', 'over range'], B: ['通讯异常', 'communication error'],
  };

  async function facts() {
    st = await RW.api('/api/v1/stations/' + encodeURIComponent(id));
    const s = st.station;
    const c = st.current;
    document.getElementById('title').textContent = RW.stationName(s) + ' ' + s.id;
    document.title = RW.stationName(s) + ' · riverwatch';
    const from = new Date(Date.now() - 40 * 86400 * 1000).toISOString();
    const [day, month] = await Promise.all([
      RW.api('/api/v1/evaluations?station=' + encodeURIComponent(id) + '&period=day&from=' + encodeURIComponent(from)).catch(() => []),
      RW.api('/api/v1/evaluations?station=' + encodeURIComponent(id) + '&period=month&from=' + encodeURIComponent(from)).catch(() => []),
    ]);
    const last = (rows) => rows.reduce((a, b) => (!a || b.start > a.start || (b.start === a.start && b.revision > a.revision) ? b : a), null);
    const rate = (r) => (r ? (r.completeness * 100).toFixed(1) + '%（' + r.valid_readings + '/' + r.expected_readings + '）' : '—');
    const kinds = { water: t('水质断面', 'water section'), air: t('空气站', 'air station'), outfall: t('排污口', 'outfall'), hydrology: t('水文站', 'gauge') };
    const item = (k, v) => '<div><span>' + esc(k) + '</span><span>' + v + '</span></div>';
    let h = item(t('类型', 'Kind'), esc(kinds[s.kind] || s.kind))
      + item(t('省份', 'Province'), esc(RW.province(s.province)) + (s.boundary ? ' <span class="tag">' + esc(t('省界断面', 'boundary section')) + '</span>' : ''))
      + item(t('所在地', 'City'), esc(s.city_zh))
      + (s.river ? item(t('河流与里程', 'River, km'), esc(s.river + ' km ' + s.river_km)) : '');
    if (s.kind === 'water') {
      h += item(t('当前类别', 'Current class'), c ? RW.chip(c.class, st.stale) + ' ' + esc(RW.classText(c.class)) : '—')
        + item(t('目标类别', 'Target class'), RW.chip(s.target_class) + ' ' + esc(RW.classText(s.target_class)))
        + item(t('是否达标', 'Meets target'), c && c.compliant != null ? (c.compliant ? '<span class="tag ok">' + esc(t('达标', 'yes')) + '</span>' : '<span class="tag bad">' + esc(t('未达标', 'no')) + '</span>') : '—')
        + item(t('定类项目', 'Deciding items'), esc(c ? c.deciding.join('、') : '—'));
    }
    if (c && c.aqi != null) h += item('AQI', esc(c.aqi + (c.aqi_level ? ' · ' + t(c.aqi_level + '级', 'level ' + c.aqi_level) : '')));
    if (c && c.flood_state) h += item(t('水位状态', 'Flood state'), esc(c.flood_state));
    h += item(t('最近观测', 'Last observed'), esc(RW.time(st.last_observed_at) + ' ' + RW.zone()) + (st.stale ? ' <span class="tag muted-tag">' + esc(t('过期', 'stale')) + ' ' + esc(RW.age(st.age_secs)) + '</span>' : ''))
      + item(t('日有效数据率', 'Valid-data rate, day'), esc(rate(last(day))))
      + item(t('月有效数据率', 'Valid-data rate, month'), esc(rate(last(month))))
      + item(t('报送间隔', 'Reporting interval'), esc(s.report_interval_secs / 60 + t(' 分钟', ' min')));
    document.getElementById('facts').innerHTML = h;
  }

  // One parameter's chart: value line broken at gaps, the target limit, flags.
  function chart(code, rows, from, to) {
    const lim = limits && limits.parameters.find((p) => p.code === code);
    const p = params.get(code);
    const target = lim && lim.target_limit;
    const Wd = 640;
    const Ht = 180;
    const L = 52;
    const R = 12;
    const T = 14;
    const B = 24;
    const values = rows.map((r) => r.value);
    const bounds = values.slice();
    if (target) {
      if (target.kind === 'range') bounds.push(target.min, target.max);
      else bounds.push(target.value);
    }
    let lo = bounds.length ? Math.min(...bounds) : 0;
    let hi = bounds.length ? Math.max(...bounds) : 1;
    if (hi === lo) { hi += 1; lo -= 1; }
    const pad = (hi - lo) * 0.08;
    lo -= pad;
    hi += pad;
    const x = (ms) => L + ((ms - from) / (to - from)) * (Wd - L - R);
    const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (Ht - T - B);
    let out = '';
    for (let i = 0; i <= 4; i++) {
      const v = lo + ((hi - lo) * i) / 4;
      out += '<line class="grid" x1="' + L + '" x2="' + (Wd - R) + '" y1="' + y(v) + '" y2="' + y(v) + '"/>'
        + '<text class="tick" x="' + (L - 4) + '" y="' + (y(v) + 3) + '" text-anchor="end">' + esc(RW.num(v)) + '</text>';
    }
    const step = (to - from) / 4;
    for (let i = 0; i <= 4; i++) {
      const ms = from + step * i;
      out += '<text class="tick" x="' + x(ms) + '" y="' + (Ht - 6) + '" text-anchor="' + (i === 0 ? 'start' : i === 4 ? 'end' : 'middle') + '">' + esc(RW.time(ms).slice(days > 1 ? 5 : 11, 16)) + '</text>';
    }
    out += '<line class="axis" x1="' + L + '" x2="' + L + '" y1="' + T + '" y2="' + (Ht - B) + '"/><line class="axis" x1="' + L + '" x2="' + (Wd - R) + '" y1="' + (Ht - B) + '" y2="' + (Ht - B) + '"/>';
    // Gaps: more than twice the reporting interval without a reading (also before the
    // first and after the last).
    const gapMs = 2 * st.station.report_interval_secs * 1000;
    const pts = rows.map((r) => ({ ms: Date.parse(r.time_utc), v: r.value, flag: r.flag }));
    const edges = [{ ms: from }, ...pts, { ms: to }];
    let gaps = 0;
    for (let i = 1; i < edges.length; i++) {
      if (edges[i].ms - edges[i - 1].ms > gapMs) {
        gaps += 1;
        const a = x(edges[i - 1].ms);
        const b = x(edges[i].ms);
        out += '<rect class="gap" x="' + a + '" y="' + T + '" width="' + Math.max(1, b - a) + '" height="' + (Ht - T - B) + '"/>';
        if (b - a > 40) out += '<text class="gap-text" x="' + ((a + b) / 2) + '" y="' + (T + 12) + '">' + esc(t('无数据', 'no data')) + '</text>';
      }
    }
    if (target) {
      const line = (v, label) => '<line class="limit" x1="' + L + '" x2="' + (Wd - R) + '" y1="' + y(v) + '" y2="' + y(v) + '"/>'
        + '<text class="limit-text" x="' + (Wd - R - 2) + '" y="' + (y(v) - 3) + '" text-anchor="end">' + esc(label) + '</text>';
      const cls = RW.classText(limits.target);
      if (target.kind === 'range') {
        out += line(target.min, cls + ' ≥ ' + target.min) + line(target.max, cls + ' ≤ ' + target.max);
      } else {
        out += line(target.value, cls + (target.kind === 'at_least' ? ' ≥ ' : ' ≤ ') + target.value);
      }
    }
    const over = (v) => target && (target.kind === 'at_most' ? v > target.value : target.kind === 'at_least' ? v < target.value : v < target.min || v > target.max);
    let path = '';
    let prev = null;
    for (const q of pts) {
      path += (prev && q.ms - prev.ms <= gapMs ? ' L' : ' M') + x(q.ms).toFixed(1) + ' ' + y(q.v).toFixed(1);
      prev = q;
    }
    if (path) out += '<path class="series" d="' + path + '"/>';
    const dots = pts.length <= 400;
    let flagged = 0;
    let exceeded = 0;
    for (const q of pts) {
      const cx = x(q.ms);
      const cy = y(q.v);
      const tip = '<title>' + esc(RW.time(q.ms) + '  ' + RW.num(q.v) + ' ' + (p ? p.unit : '') + '  ' + q.flag + ' ' + (FLAGS[q.flag] ? t(FLAGS[q.flag][0], FLAGS[q.flag][1]) : '')) + '</title>';
      if (q.flag !== 'N' && q.flag !== 'S') {
        flagged += 1;
        out += '<rect class="pt-flag" x="' + (cx - 3.5) + '" y="' + (cy - 3.5) + '" width="7" height="7">' + tip + '</rect><text class="flag-text" x="' + cx + '" y="' + (cy - 6) + '">' + esc(q.flag) + '</text>';
      } else if (over(q.v)) {
        exceeded += 1;
        out += '<path class="pt-over" d="M' + cx + ' ' + (cy - 5) + ' L' + (cx + 5) + ' ' + (cy + 4) + ' L' + (cx - 5) + ' ' + (cy + 4) + ' Z">' + tip + '</path>';
      } else if (dots) {
        out += '<circle class="pt" cx="' + cx + '" cy="' + cy + '" r="2">' + tip + '</circle>';
      }
    }
    const name = p ? t(p.name_zh, p.name_en) : code;
    const summary = rows.length + t(' 个读数', ' readings') + (gaps ? t('，' + gaps + ' 段缺失', ', ' + gaps + ' gaps') : '')
      + (exceeded ? t('，' + exceeded + ' 个超限', ', ' + exceeded + ' beyond the limit') : '') + (flagged ? t('，' + flagged + ' 个带标识', ', ' + flagged + ' flagged') : '');
    return '<div class="chart" data-param="' + esc(code) + '"><h3>' + esc(name + ' (' + code + (p ? ', ' + p.unit : '') + ')') + '</h3>'
      + '<svg class="chart-svg" viewBox="0 0 ' + Wd + ' ' + Ht + '" role="img" aria-label="' + esc(name) + '">' + out + '</svg>'
      + '<p class="note">' + esc(summary) + '</p></div>';
  }

  async function charts() {
    const to = Date.now();
    const from = to - days * 86400 * 1000;
    const span = '&from=' + encodeURIComponent(new Date(from).toISOString()) + '&to=' + encodeURIComponent(new Date(to).toISOString());
    // One query per parameter: a month of 1-minute readings of every parameter of a station
    // (about 390 000) is over the API's row limit, one parameter's month (43 200) is not.
    const answers = await Promise.all(st.station.parameters.map((c) =>
      RW.api('/api/v1/readings?station=' + encodeURIComponent(id) + '&param=' + encodeURIComponent(c) + span)
        .then((r) => [c, r])));
    const by = new Map(answers.map(([c, r]) => [c, r.readings]));
    const cut = answers.filter(([, r]) => r.truncated).map(([c]) => c);
    document.getElementById('range-note').textContent = (cut.length ? t('结果过多，' + cut.join('、') + ' 仅显示前面的读数。', 'Too many readings: only the first ones of ' + cut.join(', ') + ' are shown. ') : '')
      + RW.time(from) + ' – ' + RW.time(to) + ' ' + RW.zone();
    document.getElementById('charts').innerHTML = [...by.entries()].map(([code, rows]) => chart(code, rows, from, to)).join('');
  }

  async function events() {
    const [evs, alerts] = await Promise.all([
      RW.api('/api/v1/events?station=' + encodeURIComponent(id) + '&limit=20').catch(() => []),
      RW.api('/api/v1/alerts?state=all&limit=20&station=' + encodeURIComponent(id)).catch(() => []),
    ]);
    const STATUS = { firing: t('触发', 'firing'), resolved: t('恢复', 'resolved'), changed: t('变化', 'changed') };
    document.getElementById('events').innerHTML = evs.length
      ? '<table><thead><tr><th>' + t('观测时间', 'Observed') + '</th><th>' + t('规则', 'Rule') + '</th><th>' + t('状态', 'Status') + '</th><th>' + t('说明', 'Summary') + '</th></tr></thead><tbody>'
        + evs.slice().reverse().map((e) => '<tr><td>' + esc(RW.time(e.observed_at)) + '</td><td>' + esc(RW.rule(e.rule)) + '</td><td>' + esc(STATUS[e.status] || e.status) + '</td><td>' + esc(t(e.summary_zh, e.summary_en)) + '</td></tr>').join('')
        + '</tbody></table>'
      : '<p class="muted">' + esc(t('暂无事件', 'No events')) + '</p>';
    document.getElementById('alerts').innerHTML = alerts.length
      ? '<ul>' + alerts.map((a) => '<li><a href="/alert/' + encodeURIComponent(a.id) + '">' + esc(a.id) + '</a> ' + esc(RW.alertState(a.state) + ' · ' + RW.rule(a.rule) + (a.parameter ? ' · ' + a.parameter : '') + ' · ' + RW.time(a.first_seen)) + '</li>').join('') + '</ul>'
      : '<p class="muted">' + esc(t('暂无告警', 'No alerts')) + '</p>';
  }

  async function load() {
    try {
      await facts();
      await Promise.all([charts(), events()]);
      document.body.dataset.ready = '1';
    } catch (e) {
      RW.fail('charts', e);
    }
  }

  document.getElementById('ranges').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-range]');
    if (!b) return;
    days = Number(b.dataset.range);
    document.querySelectorAll('#ranges button').forEach((x) => x.setAttribute('aria-pressed', x === b ? 'true' : 'false'));
    charts().catch((e) => RW.fail('charts', e));
  });

  try {
    const [lim, ps] = await Promise.all([
      RW.api('/api/v1/limits?station=' + encodeURIComponent(id)),
      RW.api('/api/v1/parameters'),
    ]);
    limits = lim;
    params = new Map(ps.map((p) => [p.code, p]));
  } catch (e) {
    RW.fail('facts', e);
    return;
  }
  await load();
  const reload = RW.debounce(load, 500);
  RW.feed({
    reading: (m) => { if (m.station === id) reload(); },
    evaluation: (e) => { if (e.subject === id) reload(); },
    resync: reload,
  });
})();
