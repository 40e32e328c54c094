// The alert page: what fired and how it stands (value against limit, class against
// target, exceedance multiple), both provinces' acknowledgements side by side with the
// form for the signed-in officer's own province only, the timeline from the audit trail,
// attribution and the incident's path downstream with the expected arrival, every
// notification with its outcome, and the silences (created and ended by admins).
'use strict';

(async () => {
  const { t, esc } = RW;
  const id = decodeURIComponent(location.pathname.split('/').pop());
  let me;
  try {
    me = await RW.init();
  } catch (e) {
    return;
  }
  let stations = new Map();
  let params = new Map();
  let current = null;
  const name = (sid) => (stations.get(sid) ? RW.stationName(stations.get(sid).station) : sid);
  const item = (k, v) => '<div><span>' + esc(k) + '</span><span>' + v + '</span></div>';

  function facts(a) {
    const e = a.event || {};
    const p = a.parameter ? params.get(a.parameter) : null;
    document.getElementById('title').textContent = RW.rule(a.rule) + ' · ' + (a.subject === 'REGION' ? t('区域', 'region') : name(a.subject)) + (p ? ' · ' + t(p.name_zh, p.name_en) : '');
    document.title = document.getElementById('title').textContent + ' · riverwatch';
    const stateTag = '<span class="tag ' + (a.state === 'firing' ? 'bad' : 'ok') + '" id="state" data-state="' + esc(a.state) + '">' + esc(RW.alertState(a.state)) + '</span>';
    let h = item(t('状态', 'State'), stateTag + (a.silenced_by.length ? ' <span class="tag muted-tag">' + esc(t('已静默', 'silenced')) + '</span>' : ''))
      + item(t('级别', 'Severity'), esc(RW.severity(a.severity)))
      + item(t('站点', 'Subject'), a.subject === 'REGION' ? esc(t('区域', 'region')) : '<a href="/station/' + encodeURIComponent(a.subject) + '">' + esc(name(a.subject)) + '</a>' + (a.place ? ' · ' + esc(RW.province(a.place.province)) : ''))
      + item(t('数值 / 限值', 'Value / limit'), esc((a.value != null ? RW.num(a.value) : '—') + ' / ' + (a.limit != null ? RW.num(a.limit) : '—') + ' ' + (a.unit || '')))
      + item(t('类别 / 目标', 'Class / target'), e.class || e.target ? RW.chip(e.class) + ' / ' + RW.chip(e.target) + ' ' + esc(RW.classText(e.class) + ' / ' + RW.classText(e.target)) : '—')
      + item(t('超标倍数', 'Exceedance multiple'), esc(e.exceedance_multiple != null ? RW.num(e.exceedance_multiple, 2) + t(' 倍', '×') : '—'))
      + item(t('首次', 'First seen'), esc(RW.time(a.first_seen) + ' ' + RW.zone()))
      + item(t('最近', 'Last seen'), esc(RW.time(a.last_seen)))
      + item(t('恢复', 'Resolved'), esc(RW.time(a.resolved_at)))
      + item(t('标准', 'Standard'), esc(e.standard || '—'))
      + item(t('编号', 'Id'), esc(a.id));
    if (e.aqi != null) h += item('AQI', esc(e.aqi));
    document.getElementById('facts').innerHTML = h;
    document.getElementById('summary').textContent = t(e.summary_zh || '', e.summary_en || '');
  }

  const STANDING = {
    acknowledged: ['已确认', 'acknowledged'], informed: ['已告知（抄送）', 'informed (copy)'],
    notice: ['通知', 'notice'], unacknowledged: ['未确认', 'not acknowledged'],
  };
  const ROLE = { equal: ['跨界同等通报', 'cross-border, as equals'], owner: ['属地负责', 'responsible'], info_copy: ['信息抄送', 'information copy'] };

  function acks(a) {
    const box = document.getElementById('acks');
    box.innerHTML = ['HLJ', 'JL'].map((code) => {
      const side = a.sides[code];
      const k = a.acks[code];
      const mine = me.acknowledges_for === code;
      let h = '<div class="side' + (mine ? ' mine' : '') + '" data-province="' + code + '"><h3>' + esc(RW.province(code)) + (mine ? ' <span class="tag">' + esc(t('本省', 'yours')) + '</span>' : '') + '</h3>';
      if (!side) return h + '<p class="muted">' + esc(t('不涉及', 'not concerned')) + '</p></div>';
      const st = side.standing || {};
      h += '<p>' + esc((ROLE[side.role] ? t(ROLE[side.role][0], ROLE[side.role][1]) : side.role) + ' · ')
        + '<span class="' + (k ? 'ack-yes' : 'ack-no') + '">' + esc(STANDING[st.state] ? t(STANDING[st.state][0], STANDING[st.state][1]) : (st.state || '')) + '</span>'
        + (side.escalation_level ? ' · <span class="tag bad">' + esc(t('已升级 ' + side.escalation_level + ' 级', 'escalated, level ' + side.escalation_level)) + '</span>' : '') + '</p>';
      if (k) {
        h += '<p class="ack-who"><b>' + esc(k.by) + '</b> · ' + esc(RW.time(k.at) + ' ' + RW.zone()) + '</p><p>' + esc(k.comment || t('（无备注）', '(no comment)')) + '</p>';
      } else if (mine && side.role !== 'info_copy') {
        h += '<form class="inline" id="ack-form"><label for="ack-comment">' + esc(t('处置情况（备注）', 'What was done (comment)')) + '</label>'
          + '<textarea id="ack-comment" maxlength="2000"></textarea>'
          + '<button class="primary" id="ack-button" type="submit">' + esc(t('代表' + RW.province(code) + '确认', 'Acknowledge for ' + RW.province(code))) + '</button>'
          + '<p id="ack-message" class="error" role="alert"></p></form>';
      } else {
        h += '<p class="muted">' + esc(t('仅' + RW.province(code) + '值班人员可确认', 'only ' + RW.province(code) + "'s duty officers acknowledge")) + '</p>';
      }
      return h + '</div>';
    }).join('');
    const form = document.getElementById('ack-form');
    if (form) {
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const comment = document.getElementById('ack-comment').value.trim();
        try {
          const body = comment ? { comment } : {};
          await RW.api('/api/v1/alerts/' + encodeURIComponent(a.id) + '/ack', { json: body });
          await load();
        } catch (e) {
          document.getElementById('ack-message').textContent = e.message;
        }
      });
    }
  }

  const KIND = {
    alert_opened: ['opened', '触发', 'fired'], alert_updated: ['', '更新', 'updated'], alert_severity_raised: ['escalated', '级别提高', 'severity raised'],
    notification_queued: ['notified', '通知排队', 'notification queued'], notification_sent: ['notified', '已通知', 'notified'],
    notification_retrying: ['', '通知重试', 'notification retrying'], notification_failed: ['', '通知失败', 'notification failed'],
    notification_expired: ['', '通知过期', 'notification expired'], notification_suppressed: ['', '通知已抑制', 'notification suppressed'],
    escalated: ['escalated', '已升级', 'escalated'], escalation: ['escalated', '升级', 'escalation'], escalation_stopped: ['', '停止升级', 'escalation stopped'],
    ack: ['ack', '确认', 'acknowledged'], alert_resolved: ['resolved', '恢复', 'resolved'], resolved: ['resolved', '恢复', 'resolved'],
    alert_attached: ['', '归并', 'attached'], alert_released: ['', '解除归并', 'released'],
    silence_created: ['', '创建静默', 'silence created'], silence_expired: ['', '静默结束', 'silence ended'],
  };

  // The audit trail, with every notification (whom, how, outcome) at its time.
  function timeline(audit, notes) {
    const OUT = { queued: ['排队', 'queued'], retrying: ['重试中', 'retrying'], sent: ['已送达', 'delivered'], failed: ['失败', 'failed'], expired: ['过期', 'expired'] };
    const rows = audit.filter((r) => !(notes.length && r.kind.startsWith('notification_')))
      .concat(notes.map((n) => ({
        at: n.sent_at || n.last_attempt_at || n.created_at,
        kind: n.kind === 'escalation' ? 'escalated' : 'notification_sent',
        actor: n.recipient_name + ' <' + n.target + '>',
        province: n.province,
        detail: JSON.stringify({ channel: n.channel, outcome: OUT[n.status] ? t(OUT[n.status][0], OUT[n.status][1]) : n.status }),
      })))
      .sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    document.getElementById('timeline').innerHTML = rows.map((r) => {
      const k = KIND[r.kind] || ['', r.kind, r.kind];
      let detail = '';
      try {
        const d = JSON.parse(r.detail);
        const keep = ['recipient_name', 'recipient', 'channel', 'target', 'comment', 'level', 'reason', 'severity', 'outcome', 'status', 'error'];
        detail = keep.filter((x) => d[x] != null && d[x] !== '').map((x) => x + ': ' + (typeof d[x] === 'object' ? JSON.stringify(d[x]) : d[x])).join('，');
      } catch (_) { /* shown without detail */ }
      return '<li class="k-' + k[0] + '" data-kind="' + esc(r.kind) + '"><span class="what">' + esc(t(k[1], k[2])) + '</span> · ' + esc(RW.time(r.at, true))
        + ' · ' + esc(r.actor) + (r.province ? ' · ' + esc(RW.province(r.province)) : '') + (detail ? '<div class="muted">' + esc(detail) + '</div>' : '') + '</li>';
    }).join('') || '<li>' + esc(t('无记录', 'nothing recorded')) + '</li>';
  }

  async function path(a) {
    const e = a.event || {};
    let h = '';
    const at = e.attribution;
    if (at) {
      const V = {
        arrived_from_upstream: ['来自上游', 'arrived from upstream'], arisen_between: ['产生于上下游断面之间', 'arisen between the sections'], undetermined: ['无法判定', 'undetermined'],
      };
      h += '<p><b>' + esc(t('溯源结论：', 'Attribution: ') + (V[at.verdict] ? t(V[at.verdict][0], V[at.verdict][1]) : at.verdict)) + '</b> ';
      if (at.upstream_station) {
        h += esc(t('上游断面 ', 'upstream section ') + name(at.upstream_station) + '（' + RW.province(at.upstream_province) + '），'
          + t('一个传播时间前的数值 ', 'value one travel time earlier ') + RW.num(at.upstream_value) + '，' + t('传播时间 ', 'travel time ') + RW.num(at.travel_hours, 1) + ' h');
      }
      if (at.reason) h += esc(at.reason);
      h += '</p>';
    }
    if (e.incident) {
      const list = await RW.api('/api/v1/incidents').catch(() => []);
      const inc = list.find((i) => i.id === e.incident);
      h += '<p>' + esc(t('事件链 ', 'Incident ') + e.incident) + '</p>';
      if (inc) {
        h += '<ol class="path">' + inc.sections.map((s) => '<li>' + esc(name(s.station) + '（' + RW.province(s.province) + '）' + s.parameter + ' · ' + RW.time(s.first_at || s.first_exceedance_at || s.at)) + '</li>').join('');
        if (inc.expected_next) h += '<li class="muted">' + esc(t('预计到达 ', 'expected at ') + name(inc.expected_next.station) + ' · ' + RW.time(inc.expected_next.at) + ' ' + RW.zone()) + '</li>';
        h += '</ol>';
      }
    }
    if (e.expected_next && !(e.incident)) {
      h += '<p>' + esc(t('预计到达下游 ', 'Expected downstream at ') + name(e.expected_next.station) + ' · ' + RW.time(e.expected_next.at) + ' ' + RW.zone()) + '</p>';
    } else if (e.expected_next) {
      h += '<p>' + esc(t('下一断面预计到达：', 'Next section expected: ') + name(e.expected_next.station) + ' · ' + RW.time(e.expected_next.at) + ' ' + RW.zone()) + '</p>';
    }
    document.getElementById('path').innerHTML = h || '<p class="muted">' + esc(t('无溯源或传播信息', 'No attribution or incident')) + '</p>';
  }

  function notifications(list) {
    const OUT = { queued: ['排队', 'queued'], retrying: ['重试中', 'retrying'], sent: ['已送达', 'sent'], failed: ['失败', 'failed'], expired: ['过期', 'expired'] };
    document.getElementById('notifications').innerHTML = list.length
      ? '<table><thead><tr><th>' + t('时间', 'Time') + '</th><th>' + t('接收人', 'Recipient') + '</th><th>' + t('省份', 'Province') + '</th><th>' + t('方式', 'Channel') + '</th><th>' + t('类型', 'Kind') + '</th><th>' + t('结果', 'Outcome') + '</th><th>' + t('尝试', 'Attempts') + '</th><th>' + t('最后回复', 'Last reply') + '</th></tr></thead><tbody>'
        + list.map((n) => '<tr data-status="' + esc(n.status) + '"><td>' + esc(RW.time(n.created_at)) + '</td><td>' + esc(n.recipient_name) + '<div class="muted">' + esc(n.target) + '</div></td><td>' + esc(RW.province(n.province)) + '</td><td>' + esc(n.channel) + '</td><td>' + esc(n.kind) + '</td><td><span class="tag ' + (n.status === 'sent' ? 'ok' : n.status === 'failed' || n.status === 'expired' ? 'bad' : 'muted-tag') + '">' + esc(OUT[n.status] ? t(OUT[n.status][0], OUT[n.status][1]) : n.status) + '</span>' + (n.sent_at ? '<div class="muted">' + esc(RW.time(n.sent_at, true)) + '</div>' : '') + '</td><td>' + esc(n.attempts) + '</td><td class="muted">' + esc(n.last_reply || '') + '</td></tr>').join('')
        + '</tbody></table>'
      : '<p class="muted">' + esc(t('尚无通知', 'No notification yet')) + '</p>';
  }

  async function silences(a) {
    const list = await RW.api('/api/v1/silences?all=true').catch(() => []);
    const SS = { active: ['生效中', 'active'], pending: ['未开始', 'pending'], expired: ['已到期', 'expired'], ended_early: ['已提前结束', 'ended early'] };
    let h = list.length
      ? '<table><thead><tr><th>' + t('匹配', 'Matchers') + '</th><th>' + t('状态', 'State') + '</th><th>' + t('起止', 'From – to') + '</th><th>' + t('创建人 / 原因', 'By / reason') + '</th><th></th></tr></thead><tbody>'
        + list.map((s) => '<tr data-silence="' + esc(s.id) + '"><td>' + esc(s.matchers_text) + (a.silenced_by.includes(s.id) ? ' <span class="tag">' + esc(t('静默本告警', 'mutes this alert')) + '</span>' : '') + '</td><td>' + esc(SS[s.state] ? t(SS[s.state][0], SS[s.state][1]) : s.state) + '</td><td>' + esc(RW.time(s.starts_at) + ' – ' + RW.time(s.ends_at)) + '</td><td>' + esc(s.created_by + ' · ' + s.reason) + '</td><td>'
          + (me.admin && (s.state === 'active' || s.state === 'pending') ? '<button class="small" type="button" data-expire="' + esc(s.id) + '">' + esc(t('结束', 'End')) + '</button>' : '') + '</td></tr>').join('')
        + '</tbody></table>'
      : '<p class="muted">' + esc(t('无静默规则', 'No silences')) + '</p>';
    if (me.admin) {
      const matchers = 'rule=' + a.rule + ',subject=' + a.subject + (a.parameter ? ',parameter=' + a.parameter : '');
      h += '<form class="inline" id="silence-form"><h3>' + esc(t('新建静默（管理员）', 'New silence (admin)')) + '</h3>'
        + '<label for="sil-matchers">' + esc(t('匹配条件', 'Matchers')) + '</label><input id="sil-matchers" value="' + esc(matchers) + '">'
        + '<label for="sil-duration">' + esc(t('时长（如 4h）', 'Duration (e.g. 4h)')) + '</label><input id="sil-duration" value="4h">'
        + '<label for="sil-reason">' + esc(t('原因', 'Reason')) + '</label><input id="sil-reason" required>'
        + '<button class="primary" type="submit">' + esc(t('创建静默', 'Create silence')) + '</button><p id="sil-message" class="error"></p></form>';
    }
    const box = document.getElementById('silences');
    box.innerHTML = h;
    box.querySelectorAll('button[data-expire]').forEach((b) => b.addEventListener('click', async () => {
      try {
        await RW.api('/api/v1/silences/' + encodeURIComponent(b.dataset.expire) + '/expire', { json: {} });
        await load();
      } catch (e) {
        RW.fail('silences', e);
      }
    }));
    const form = document.getElementById('silence-form');
    if (form) {
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        try {
          await RW.api('/api/v1/silences', { json: {
            matchers: document.getElementById('sil-matchers').value.trim(),
            duration: document.getElementById('sil-duration').value.trim(),
            reason: document.getElementById('sil-reason').value.trim(),
          } });
          await load();
        } catch (e) {
          document.getElementById('sil-message').textContent = e.message;
        }
      });
    }
  }

  async function load() {
    try {
      const d = await RW.api('/api/v1/alerts/' + encodeURIComponent(id));
      current = d.alert;
      facts(d.alert);
      acks(d.alert);
      timeline(d.audit, d.notifications);
      notifications(d.notifications);
      await Promise.all([path(d.alert), silences(d.alert)]);
      document.body.dataset.ready = '1';
      document.body.dataset.version = String(d.alert.version);
    } catch (e) {
      RW.fail('facts', e);
    }
  }

  try {
    const [sts, ps] = await Promise.all([RW.api('/api/v1/stations'), RW.api('/api/v1/parameters')]);
    stations = new Map(sts.map((s) => [s.station.id, s]));
    params = new Map(ps.map((p) => [p.code, p]));
  } catch (e) {
    RW.fail('facts', e);
    return;
  }
  await load();
  const reload = RW.debounce(load, 300);
  RW.feed({
    alert: (a) => {
      if (a.id !== id || (current && a.version <= current.version)) return;
      // Keep a comment being typed: reload only when the form is empty.
      const c = document.getElementById('ack-comment');
      if (!c || !c.value) reload();
    },
    resync: reload,
  });
})();
