// callscreen dashboard: vanilla JavaScript, no dependencies.
//
// Every string that comes from the API (and so possibly from a caller: the
// display name, the number, headers) is put on the page with textContent or
// as an attribute value set through the DOM, never parsed as markup.
'use strict';

(function () {
  // ---- strings ---------------------------------------------------------------

  const I18N = {
    en: {
      'lang.switch': '日本語',
      'login.subtitle': 'Sign in to the call screening dashboard.',
      'login.username': 'User name',
      'login.password': 'Password',
      'login.submit': 'Sign in',
      'login.failed': 'Wrong user name or password.',
      'nav.overview': 'Overview',
      'nav.calls': 'Call log',
      'nav.lists': 'Lists',
      'nav.logout': 'Sign out',
      'conn.up': 'Asterisk connected',
      'conn.down': 'Asterisk disconnected',
      'conn.agi': 'FastAGI mode',
      'conn.off': 'Not screening',
      'overview.title': 'Overview',
      'overview.period': 'Period',
      'overview.chart': 'Calls per day by decision',
      'overview.indicators': 'Top indicators',
      'overview.noIndicators': 'No indicators fired in this period.',
      'period.7': 'Last 7 days',
      'period.14': 'Last 14 days',
      'period.30': 'Last 30 days',
      'period.90': 'Last 90 days',
      'kpi.calls': 'Calls',
      'kpi.rang': 'Rang through',
      'kpi.stopped': 'Stopped',
      'kpi.stoppedSub': 'rejected, dropped or asked for the number',
      'kpi.challenged': 'Challenged',
      'kpi.voicemail': 'To voicemail',
      'kpi.monitor': 'Monitor mode',
      'kpi.monitorSub': '{n} would have been stopped',
      'kpi.share': '{p}% of calls',
      'state.title': 'Service status',
      'state.updated': 'Updated {t}',
      'state.version': 'Version',
      'state.uptime': 'Uptime',
      'state.ari': 'ARI (Stasis)',
      'state.agi': 'FastAGI',
      'state.allow': 'Allow list',
      'state.block': 'Block list',
      'state.dno': 'Do-not-originate list',
      'state.log': 'Call log written',
      'state.dropped': 'Log records dropped',
      'state.tz': 'Time zone',
      'state.connected': 'Connected',
      'state.disconnected': 'Disconnected',
      'state.listening': 'Listening on {a}',
      'state.notListening': 'Not listening',
      'state.disabled': 'Disabled',
      'calls.title': 'Call log',
      'calls.auto': 'Refresh automatically',
      'calls.number': 'Number',
      'calls.numberHint': '03-1234-5678 or +8190*',
      'calls.action': 'Decision',
      'calls.outcome': 'Outcome',
      'calls.any': 'Any',
      'calls.from': 'From',
      'calls.to': 'To',
      'calls.search': 'Search',
      'calls.reset': 'Reset',
      'calls.empty': 'No calls match.',
      'calls.withheld': 'Withheld',
      'calls.range': 'Calls {a}–{b}',
      'calls.details': 'Findings',
      'calls.noFindings': 'No indicators fired.',
      'calls.override': 'Allowed by {o}',
      'col.time': 'Time',
      'col.caller': 'Caller',
      'col.name': 'Name',
      'col.called': 'Called',
      'col.verdict': 'Decision',
      'col.score': 'Score',
      'col.outcome': 'Outcome',
      'col.reasons': 'Reasons',
      'col.actions': 'Lists',
      'col.number': 'Number',
      'col.reason': 'Reason',
      'col.source': 'Source',
      'col.expires': 'Expires',
      'col.created': 'Added',
      'row.allow': 'Allow',
      'row.block': 'Block',
      'row.remove': 'Remove',
      'monitor': 'monitor',
      'confirm.allowTitle': 'Allow this caller?',
      'confirm.allowBody': 'Calls from {n} will ring through without screening. The number is taken off the block list.',
      'confirm.blockTitle': 'Block this caller?',
      'confirm.blockBody': 'Calls from {n} will be rejected. The number is taken off the allow list.',
      'confirm.removeTitle': 'Remove this entry?',
      'confirm.removeBody': '{n} will be removed from the {k}.',
      'modal.cancel': 'Cancel',
      'toast.allowed': '{n} is on the allow list.',
      'toast.blocked': '{n} is on the block list.',
      'toast.added': '{n} added to the {k}.',
      'toast.removed': '{n} removed from the {k}.',
      'toast.error': 'Error: {e}',
      'lists.title': 'Lists',
      'lists.add': 'Add a number',
      'lists.number': 'Number or prefix',
      'lists.numberHint': '03-1234-5678, +81312345678 or +4470*',
      'lists.reason': 'Reason (optional)',
      'lists.expires': 'Expires',
      'lists.addButton': 'Add to list',
      'lists.importExport': 'Import and export',
      'lists.importHelp': 'CSV or text, one number per line: number, reason, expiry (2026-12-31). A header line is optional. Numbers in national form are converted.',
      'lists.file': 'File',
      'lists.skipBad': 'Import the good lines if some are bad',
      'lists.import': 'Import',
      'lists.export': 'Export CSV',
      'lists.chooseFile': 'Choose a file first.',
      'lists.imported': 'Imported {i} lines ({a} new entries).',
      'lists.badLines': '{n} bad lines:',
      'lists.entries': '{k} ({n})',
      'lists.empty': 'The list is empty.',
      'lists.prefixHint': 'Starts with (+8150)',
      'lists.range': 'Entries {a}–{b}',
      'kind.allow': 'Allow list',
      'kind.block': 'Block list',
      'kind.dno': 'Do-not-originate',
      'help.allow': 'Callers on the allow list bypass screening: customers, the clinic, the bank.',
      'help.block': 'Callers on the block list are rejected.',
      'help.dno': 'Numbers that never place calls (inbound-only lines, your own toll-free numbers). Calls presenting them are treated as spoofed.',
      'expires.never': 'Never',
      'expires.1d': '1 day',
      'expires.7d': '7 days',
      'expires.30d': '30 days',
      'expires.90d': '90 days',
      'expires.365d': '1 year',
      'pager.newer': '← Newer',
      'pager.older': 'Older →',
      'pager.prev': '← Previous',
      'pager.next': 'Next →',
      'action.ring': 'Ring',
      'action.challenge': 'Challenge',
      'action.voicemail': 'Voicemail',
      'action.number-request': 'Number request',
      'action.reject': 'Reject',
      'action.drop': 'Drop',
      'outcome.rang': 'Rang',
      'outcome.voicemail': 'Voicemail',
      'outcome.announced': 'Announced',
      'outcome.rejected': 'Rejected',
      'outcome.dropped': 'Dropped',
      'outcome.challenge-passed': 'Challenge passed',
      'outcome.challenge-failed': 'Challenge failed',
      'outcome.abandoned': 'Caller hung up',
      'outcome.error': 'Error',
      'source.operator': 'operator',
      'source.import': 'import',
      'source.challenge': 'passed challenge',
      'source.velocity': 'velocity',
      'source.callback': 'callback',
      'session.expired': 'Your session has ended. Please sign in again.',
      'dur.d': '{n}d', 'dur.h': '{n}h', 'dur.m': '{n}m',
      'col.server': 'Server',
      'col.tenant': 'Tenant',
      'col.scope': 'Scope',
      'state.server': 'Server',
      'state.tenant': 'Tenant',
      'fleet.view': 'Fleet view',
      'fleet.title': 'Servers and tenants',
      'fleet.period': 'Calls in the last 24 hours',
      'fleet.last': 'Last call',
      'fleet.empty': 'No server recorded a call in the last 24 hours.',
      'fleet.none': '(none)',
      'lists.scope': 'Applies to',
      'lists.readOnly': 'fleet-wide, read-only',
      'lists.importScope': 'Imported entries apply to: {s}',
      'scope.all': 'All scopes',
      'scope.fleet': 'Fleet-wide',
      'scope.fleetOnly': 'Fleet-wide only',
      'scope.tenant': 'Tenant {t}',
    },
    ja: {
      'lang.switch': 'English',
      'login.subtitle': '着信スクリーニング管理画面にログインしてください。',
      'login.username': 'ユーザー名',
      'login.password': 'パスワード',
      'login.submit': 'ログイン',
      'login.failed': 'ユーザー名またはパスワードが違います。',
      'nav.overview': '概要',
      'nav.calls': '着信履歴',
      'nav.lists': 'リスト',
      'nav.logout': 'ログアウト',
      'conn.up': 'Asterisk 接続中',
      'conn.down': 'Asterisk 切断',
      'conn.agi': 'FastAGI モード',
      'conn.off': 'スクリーニング停止中',
      'overview.title': '概要',
      'overview.period': '期間',
      'overview.chart': '日別着信数（判定別）',
      'overview.indicators': '検出の多い指標',
      'overview.noIndicators': 'この期間に検出された指標はありません。',
      'period.7': '過去7日間',
      'period.14': '過去14日間',
      'period.30': '過去30日間',
      'period.90': '過去90日間',
      'kpi.calls': '着信数',
      'kpi.rang': '取り次ぎ',
      'kpi.stopped': '遮断',
      'kpi.stoppedSub': '拒否・切断・番号通知リクエスト',
      'kpi.challenged': '確認応答',
      'kpi.voicemail': '留守番電話へ',
      'kpi.monitor': 'モニターモード',
      'kpi.monitorSub': '{n} 件は本来遮断',
      'kpi.share': '全体の {p}%',
      'state.title': 'サービス状態',
      'state.updated': '{t} 更新',
      'state.version': 'バージョン',
      'state.uptime': '稼働時間',
      'state.ari': 'ARI（Stasis）',
      'state.agi': 'FastAGI',
      'state.allow': '許可リスト',
      'state.block': '拒否リスト',
      'state.dno': '非発信番号リスト',
      'state.log': '記録済み着信',
      'state.dropped': '記録できなかった着信',
      'state.tz': 'タイムゾーン',
      'state.connected': '接続中',
      'state.disconnected': '切断',
      'state.listening': '{a} で待受中',
      'state.notListening': '待受していません',
      'state.disabled': '無効',
      'calls.title': '着信履歴',
      'calls.auto': '自動更新',
      'calls.number': '電話番号',
      'calls.numberHint': '03-1234-5678 または +8190*',
      'calls.action': '判定',
      'calls.outcome': '結果',
      'calls.any': 'すべて',
      'calls.from': '開始日',
      'calls.to': '終了日',
      'calls.search': '検索',
      'calls.reset': 'リセット',
      'calls.empty': '該当する着信はありません。',
      'calls.withheld': '非通知',
      'calls.range': '{a}〜{b} 件目',
      'calls.details': '検出内容',
      'calls.noFindings': '検出された指標はありません。',
      'calls.override': '{o} により許可',
      'col.time': '日時',
      'col.caller': '発信者',
      'col.name': '名前',
      'col.called': '着信先',
      'col.verdict': '判定',
      'col.score': 'スコア',
      'col.outcome': '結果',
      'col.reasons': '理由',
      'col.actions': 'リスト',
      'col.number': '電話番号',
      'col.reason': '理由',
      'col.source': '登録元',
      'col.expires': '有効期限',
      'col.created': '登録日時',
      'row.allow': '許可',
      'row.block': '拒否',
      'row.remove': '削除',
      'monitor': 'モニター',
      'confirm.allowTitle': 'この発信者を許可しますか？',
      'confirm.allowBody': '{n} からの着信はスクリーニングせずに取り次ぎます。拒否リストからは削除されます。',
      'confirm.blockTitle': 'この発信者を拒否しますか？',
      'confirm.blockBody': '{n} からの着信を拒否します。許可リストからは削除されます。',
      'confirm.removeTitle': 'このエントリを削除しますか？',
      'confirm.removeBody': '{n} を{k}から削除します。',
      'modal.cancel': 'キャンセル',
      'toast.allowed': '{n} を許可リストに登録しました。',
      'toast.blocked': '{n} を拒否リストに登録しました。',
      'toast.added': '{n} を{k}に登録しました。',
      'toast.removed': '{n} を{k}から削除しました。',
      'toast.error': 'エラー: {e}',
      'lists.title': 'リスト',
      'lists.add': '番号を登録',
      'lists.number': '電話番号またはプレフィックス',
      'lists.numberHint': '03-1234-5678、+81312345678、+4470* など',
      'lists.reason': '理由（任意）',
      'lists.expires': '有効期限',
      'lists.addButton': 'リストに登録',
      'lists.importExport': 'インポート・エクスポート',
      'lists.importHelp': 'CSV またはテキスト、1行に1件：番号、理由、有効期限（2026-12-31）。見出し行は任意です。国内形式の番号は自動変換されます。',
      'lists.file': 'ファイル',
      'lists.skipBad': '不正な行があっても正しい行は取り込む',
      'lists.import': 'インポート',
      'lists.export': 'CSV エクスポート',
      'lists.chooseFile': 'ファイルを選択してください。',
      'lists.imported': '{i} 行を取り込みました（新規 {a} 件）。',
      'lists.badLines': '不正な行 {n} 件:',
      'lists.entries': '{k}（{n} 件）',
      'lists.empty': 'リストは空です。',
      'lists.prefixHint': '前方一致（+8150）',
      'lists.range': '{a}〜{b} 件目',
      'kind.allow': '許可リスト',
      'kind.block': '拒否リスト',
      'kind.dno': '非発信番号リスト',
      'help.allow': '許可リストの発信者はスクリーニングを通らずに取り次がれます（お客様、病院、銀行など）。',
      'help.block': '拒否リストの発信者からの着信は拒否されます。',
      'help.dno': '発信に使われない番号（着信専用回線、自社のフリーダイヤルなど）。この番号を名乗る着信は偽装とみなします。',
      'expires.never': '無期限',
      'expires.1d': '1日',
      'expires.7d': '7日',
      'expires.30d': '30日',
      'expires.90d': '90日',
      'expires.365d': '1年',
      'pager.newer': '← 新しい',
      'pager.older': '古い →',
      'pager.prev': '← 前へ',
      'pager.next': '次へ →',
      'action.ring': '着信',
      'action.challenge': '確認応答',
      'action.voicemail': '留守番電話',
      'action.number-request': '番号通知リクエスト',
      'action.reject': '拒否',
      'action.drop': '切断',
      'outcome.rang': '着信',
      'outcome.voicemail': '留守番電話',
      'outcome.announced': 'アナウンス',
      'outcome.rejected': '拒否',
      'outcome.dropped': '切断',
      'outcome.challenge-passed': '確認応答に成功',
      'outcome.challenge-failed': '確認応答に失敗',
      'outcome.abandoned': '発信者が切断',
      'outcome.error': 'エラー',
      'source.operator': '管理者',
      'source.import': 'インポート',
      'source.challenge': '確認応答成功',
      'source.velocity': '頻度',
      'source.callback': '折り返し',
      'session.expired': 'セッションが終了しました。再度ログインしてください。',
      'dur.d': '{n}日', 'dur.h': '{n}時間', 'dur.m': '{n}分',
      'col.server': 'サーバー',
      'col.tenant': 'テナント',
      'col.scope': '適用範囲',
      'state.server': 'サーバー',
      'state.tenant': 'テナント',
      'fleet.view': '全体ビュー',
      'fleet.title': 'サーバーとテナント',
      'fleet.period': '過去24時間の着信',
      'fleet.last': '最終着信',
      'fleet.empty': '過去24時間に着信を記録したサーバーはありません。',
      'fleet.none': '（なし）',
      'lists.scope': '適用範囲',
      'lists.readOnly': '全体共通・変更不可',
      'lists.importScope': 'インポートしたエントリの適用範囲: {s}',
      'scope.all': 'すべての範囲',
      'scope.fleet': '全体共通',
      'scope.fleetOnly': '全体共通のみ',
      'scope.tenant': 'テナント {t}',
    },
  };
  const ACTIONS = ['ring', 'challenge', 'voicemail', 'number-request', 'reject', 'drop'];
  const OUTCOMES = ['rang', 'voicemail', 'announced', 'rejected', 'dropped', 'challenge-passed', 'challenge-failed', 'abandoned', 'error'];
  const STOPPED = ['reject', 'drop', 'number-request'];
  const PAGE_SIZE = 50;

  let lang = pickLang();

  function pickLang() {
    try {
      const saved = localStorage.getItem('callscreen.lang');
      if (saved === 'ja' || saved === 'en') return saved;
    } catch (e) { /* storage may be disabled */ }
    return document.documentElement.lang === 'ja' ? 'ja' : 'en';
  }

  // t returns the string for key with {name} placeholders filled in.
  function t(key, vars) {
    let s = (I18N[lang] && I18N[lang][key]) || I18N.en[key] || key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    }
    return s;
  }

  function applyI18n() {
    document.documentElement.lang = lang;
    document.querySelectorAll('[data-i18n]').forEach((n) => { n.textContent = t(n.dataset.i18n); });
    document.querySelectorAll('[data-i18n-placeholder]').forEach((n) => { n.placeholder = t(n.dataset.i18nPlaceholder); });
  }

  function setLang(l) {
    lang = l;
    try { localStorage.setItem('callscreen.lang', l); } catch (e) { /* ignore */ }
    applyI18n();
    fillSelects();
    rerender();
  }

  // ---- DOM helpers --------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  // el builds an element. attrs: class, dataset entries (data-*), other
  // attributes and event handlers (on*). Children: nodes or strings (text).
  function el(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') n.className = v;
      else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return n;
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, text) {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = String(text);
    return n;
  }

  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); }

  // fmtTime shows a time in the browser's zone: 2026-03-01 09:30:05 (en),
  // 2026/03/01 09:30:05 (ja).
  function fmtTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return '';
    const p = (n) => String(n).padStart(2, '0');
    const sep = lang === 'ja' ? '/' : '-';
    return d.getFullYear() + sep + p(d.getMonth() + 1) + sep + p(d.getDate()) + ' ' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }

  function fmtNum(n) { return Number(n || 0).toLocaleString(lang === 'ja' ? 'ja-JP' : 'en-US'); }

  function fmtUptime(secs) {
    secs = Math.max(0, Math.floor(secs || 0));
    const d = Math.floor(secs / 86400), h = Math.floor((secs % 86400) / 3600), m = Math.floor((secs % 3600) / 60);
    const parts = [];
    if (d) parts.push(t('dur.d', { n: d }));
    if (d || h) parts.push(t('dur.h', { n: h }));
    parts.push(t('dur.m', { n: m }));
    return parts.join(' ');
  }

  let toastTimer;
  function toast(msg, isError) {
    const n = $('toast');
    n.textContent = msg;
    n.className = 'toast' + (isError ? ' error' : '');
    n.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { n.hidden = true; }, isError ? 6000 : 3500);
  }

  // confirmDialog shows the modal and resolves to {ok, reason}.
  function confirmDialog(title, body, okLabel, okClass, withReason) {
    return new Promise((resolve) => {
      $('modal-title').textContent = title;
      $('modal-body').textContent = body;
      const ok = $('modal-ok'), cancel = $('modal-cancel'), reason = $('modal-reason');
      ok.textContent = okLabel;
      ok.className = 'btn ' + okClass;
      $('modal-reason-label').hidden = !withReason;
      reason.value = '';
      $('modal').hidden = false;
      (withReason ? reason : ok).focus();
      const done = (v) => {
        $('modal').hidden = true;
        ok.removeEventListener('click', onOk);
        cancel.removeEventListener('click', onCancel);
        document.removeEventListener('keydown', onKey);
        resolve({ ok: v, reason: reason.value.trim() });
      };
      const onOk = () => done(true);
      const onCancel = () => done(false);
      const onKey = (e) => {
        if (e.key === 'Escape') done(false);
        if (e.key === 'Enter' && withReason && document.activeElement === reason) done(true);
      };
      ok.addEventListener('click', onOk);
      cancel.addEventListener('click', onCancel);
      document.addEventListener('keydown', onKey);
    });
  }

  // ---- API ------------------------------------------------------------------------

  let csrf = '';

  class APIError extends Error {
    constructor(status, msg, body) { super(msg); this.status = status; this.body = body; }
  }

  async function api(method, path, body, contentType) {
    const opts = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
    if (method !== 'GET') opts.headers['X-CSRF-Token'] = csrf;
    if (body !== undefined) {
      if (contentType) {
        opts.headers['Content-Type'] = contentType;
        opts.body = body;
      } else {
        opts.headers['Content-Type'] = 'application/json';
        opts.body = JSON.stringify(body);
      }
    }
    const res = await fetch(path, opts);
    let data = null;
    const ct = res.headers.get('Content-Type') || '';
    if (ct.includes('application/json')) data = await res.json();
    if (!res.ok) {
      if (res.status === 401 && path !== '/api/login' && path !== '/api/session') {
        showLogin(t('session.expired'));
      }
      throw new APIError(res.status, (data && data.error) || res.statusText, data);
    }
    return data;
  }

  // ---- login ------------------------------------------------------------------------

  let user = '';
  let role = 'operator';

  function showLogin(msg) {
    stopTimers();
    csrf = '';
    $('app-view').hidden = true;
    $('login-view').hidden = false;
    const err = $('login-error');
    err.textContent = msg || '';
    err.hidden = !msg;
    $('login-user').focus();
  }

  function showApp() {
    $('login-view').hidden = true;
    $('app-view').hidden = false;
    $('user-name').textContent = user;
    state = null;
    fleet = null;
    applyFleet();
    route();
    startTimers();
    if (isIntegrator()) loadFleet();
  }

  async function boot() {
    applyI18n();
    fillSelects();
    try {
      const s = await api('GET', '/api/session');
      csrf = s.csrf_token || '';
      user = s.user;
      role = s.role || 'operator';
      showApp();
    } catch (e) {
      showLogin('');
    }
  }

  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const s = await api('POST', '/api/login', { username: $('login-user').value, password: $('login-pass').value });
      csrf = s.csrf_token;
      user = s.user;
      role = s.role || 'operator';
      $('login-pass').value = '';
      showApp();
    } catch (e) {
      const err = $('login-error');
      err.textContent = e.status === 401 ? t('login.failed') : e.message;
      err.hidden = false;
    }
  });

  $('logout').addEventListener('click', async () => {
    try { await api('POST', '/api/logout'); } catch (e) { /* ended anyway */ }
    location.hash = '';
    showLogin('');
  });

  document.querySelectorAll('.lang-toggle').forEach((b) => b.addEventListener('click', () => setLang(lang === 'ja' ? 'en' : 'ja')));

  // ---- routing ------------------------------------------------------------------------

  let page = 'overview';

  function route() {
    const p = (location.hash || '#overview').slice(1);
    page = ['overview', 'calls', 'lists'].includes(p) ? p : 'overview';
    document.querySelectorAll('.page').forEach((s) => { s.hidden = s.id !== 'page-' + page; });
    document.querySelectorAll('.tabs a').forEach((a) => a.classList.toggle('active', a.dataset.page === page));
    rerender(true);
  }
  window.addEventListener('hashchange', () => { if (!$('app-view').hidden) route(); });

  // rerender draws the current page again, from the server when reload is set.
  function rerender(reload) {
    if ($('app-view').hidden) return;
    if (page === 'overview') { reload ? loadOverview() : (renderOverview(), renderState()); }
    if (page === 'calls') { reload ? loadCalls() : renderCalls(); }
    if (page === 'lists') { reload ? loadEntries() : renderEntries(); }
    renderConn();
  }

  let timers = [];
  function startTimers() {
    stopTimers();
    timers.push(setInterval(loadState, 10000));
    timers.push(setInterval(() => {
      if (page === 'calls' && $('auto-refresh').checked && callsOffset === 0 && $('modal').hidden) loadCalls();
      if (page === 'overview') loadSummary();
    }, 15000));
    loadState();
  }
  function stopTimers() { timers.forEach(clearInterval); timers = []; }

  // ---- state -------------------------------------------------------------------------------

  let state = null;
  let stateAt = null;

  async function loadState() {
    try {
      state = await api('GET', '/api/state');
      stateAt = new Date();
      applyFleet();
      renderConn();
      if (page === 'overview') renderState();
    } catch (e) { /* shown by the pill */ }
  }

  function renderConn() {
    const pill = $('conn-pill');
    if (!state) { pill.textContent = ''; pill.className = 'pill'; return; }
    if (!state.ari_enabled && !state.agi_enabled) {
      pill.textContent = t('conn.off');
      pill.className = 'pill down';
    } else if (state.ari_enabled) {
      pill.textContent = t(state.ari_connected ? 'conn.up' : 'conn.down');
      pill.className = 'pill ' + (state.ari_connected ? 'up' : 'down');
    } else {
      pill.textContent = t('conn.agi');
      pill.className = 'pill ' + (state.agi_listening ? 'up' : 'down');
    }
  }

  function renderState() {
    const dl = $('state');
    clear(dl);
    if (!state) return;
    const item = (label, value, cls) => dl.append(el('div', {}, el('dt', {}, label), el('dd', { class: cls || '' }, value)));
    item(t('state.ari'), !state.ari_enabled ? t('state.disabled') : t(state.ari_connected ? 'state.connected' : 'state.disconnected'),
      !state.ari_enabled ? 'status-off' : state.ari_connected ? 'status-up' : 'status-down');
    item(t('state.agi'), !state.agi_enabled ? t('state.disabled') : state.agi_listening ? t('state.listening', { a: state.agi_listen || '' }) : t('state.notListening'),
      !state.agi_enabled ? 'status-off' : state.agi_listening ? 'status-up' : 'status-down');
    if (state.server && hasScopes()) item(t('state.server'), state.server);
    if (state.tenant) item(t('state.tenant'), state.tenant);
    const lists = state.lists || {};
    item(t('state.allow'), fmtNum(lists.allow));
    item(t('state.block'), fmtNum(lists.block));
    item(t('state.dno'), fmtNum(lists.dno));
    item(t('state.log'), fmtNum(state.log_written));
    item(t('state.dropped'), fmtNum(state.log_dropped), state.log_dropped ? 'status-down' : '');
    item(t('state.uptime'), fmtUptime(state.uptime_seconds));
    item(t('state.version'), state.version || '');
    item(t('state.tz'), state.time_zone || '');
    $('state-updated').textContent = stateAt ? t('state.updated', { t: stateAt.toLocaleTimeString(lang === 'ja' ? 'ja-JP' : 'en-GB') }) : '';
  }

  // ---- overview -----------------------------------------------------------------------------

  let summary = null;

  function loadOverview() { loadSummary(); loadState(); if (isIntegrator()) loadFleet(); }

  // ---- servers and tenants (fleet mode) ----------------------------------------------------
  //
  // A server screens for one tenant. The operator's login of such a server
  // sees its tenant's calls, its tenant's entries and the fleet-wide ones
  // (read-only); the integrator's login sees every server and tenant.

  let fleet = null; // GET /api/fleet, for the integrator
  let fleetShape = '';
  let addScopePicked = false;

  function isIntegrator() { return role === 'integrator'; }
  // hasScopes: list entries have scopes worth showing.
  function hasScopes() { return isIntegrator() || !!(state && state.tenant); }
  // showServers: calls may come from several servers (a single server
  // without a tenant looks as it did before fleet mode).
  function showServers() { return hasScopes(); }

  // applyFleet shows the fleet controls this login and server call for.
  function applyFleet() {
    document.querySelectorAll('.fleet-server').forEach((n) => { n.hidden = !showServers(); });
    document.querySelectorAll('.fleet-tenant').forEach((n) => { n.hidden = !isIntegrator(); });
    document.querySelectorAll('.fleet-scope').forEach((n) => { n.hidden = !hasScopes(); });
    renderWhere();
    fillScopes();
    const shape = [showServers(), isIntegrator(), hasScopes()].join();
    if (shape !== fleetShape) {
      fleetShape = shape;
      if (page === 'calls') renderCalls();
      if (page === 'lists') renderEntries();
    }
  }

  // renderWhere names the server and its tenant in the top bar.
  function renderWhere() {
    const w = $('where');
    clear(w);
    if (!hasScopes()) { w.hidden = true; return; }
    if (state && state.server) w.append(el('span', { class: 'where-server', title: t('state.server') }, state.server));
    if (state && state.tenant) w.append(el('span', { class: 'where-tenant', title: t('state.tenant') }, state.tenant));
    if (isIntegrator()) w.append(el('span', { class: 'badge badge-fleet' }, t('fleet.view')));
    w.hidden = !w.childNodes.length;
  }

  // tenantNames returns the tenants this login may pick: its server's,
  // and for the integrator every tenant seen in the call log.
  function tenantNames() {
    const names = [];
    if (state && state.tenant) names.push(state.tenant);
    if (isIntegrator() && fleet) (fleet.tenants || []).forEach((x) => { if (x.tenant && !names.includes(x.tenant)) names.push(x.tenant); });
    return names;
  }

  // fillScopes fills the scope pickers: where a new entry goes, and which
  // entries the list shows.
  function fillScopes() {
    const add = $('add-scope'), cur = add.value;
    while (add.options.length) add.remove(0);
    const own = state && state.tenant;
    if (own) add.add(new Option(t('scope.tenant', { t: own }), 't:' + own));
    if (isIntegrator() || !own) add.add(new Option(t('scope.fleet'), 'fleet'));
    if (isIntegrator()) tenantNames().forEach((n) => { if (n !== own) add.add(new Option(t('scope.tenant', { t: n }), 't:' + n)); });
    // The server's own tenant first, until the operator picks another.
    if (addScopePicked && [...add.options].some((o) => o.value === cur)) add.value = cur;
    add.disabled = add.options.length < 2;
    $('import-scope').textContent = add.selectedIndex >= 0 ? t('lists.importScope', { s: add.options[add.selectedIndex].text }) : '';

    const sel = $('entries-scope'), was = sel.value;
    while (sel.options.length) sel.remove(0);
    sel.add(new Option(t('scope.all'), ''));
    sel.add(new Option(t('scope.fleetOnly'), 'fleet'));
    if (isIntegrator()) tenantNames().forEach((n) => sel.add(new Option(t('scope.tenant', { t: n }), 't:' + n)));
    else if (own) sel.add(new Option(t('scope.tenant', { t: own }), 'tenant'));
    if ([...sel.options].some((o) => o.value === was)) sel.value = was;
  }

  // scopeBody is the scope of a new entry, as the API takes it.
  function scopeBody() {
    const v = $('add-scope').value;
    if (!hasScopes() || !v) return {};
    return v === 'fleet' ? { scope: 'fleet' } : { tenant: v.slice(2) };
  }

  async function loadFleet() {
    try {
      fleet = await api('GET', '/api/fleet');
      renderFleet();
      fillScopes();
    } catch (e) {
      if (e.status !== 401) toast(t('toast.error', { e: e.message }), true);
    }
  }

  function renderFleet() {
    $('fleet-card').hidden = !isIntegrator() || !fleet;
    if (!fleet) return;
    const body = $('fleet-body');
    clear(body);
    (fleet.servers || []).forEach((x) => body.append(el('tr', {},
      el('td', { class: 'mono' }, x.server || t('fleet.none')),
      el('td', {}, x.tenant || t('fleet.none')),
      el('td', { class: 'num' }, fmtNum(x.calls)),
      el('td', { class: 'time' }, fmtTime(x.last)))));
    $('fleet-empty').hidden = (fleet.servers || []).length > 0;
    const fill = (list, values) => {
      clear(list);
      values.filter(Boolean).forEach((v) => list.append(el('option', { value: v })));
    };
    fill($('fleet-servers'), [...new Set((fleet.servers || []).map((x) => x.server))]);
    fill($('fleet-tenants'), (fleet.tenants || []).map((x) => x.tenant));
  }

  async function loadSummary() {
    const days = Number($('period').value) || 14;
    const today = new Date();
    const since = new Date(today.getFullYear(), today.getMonth(), today.getDate() - (days - 1));
    try {
      summary = await api('GET', '/api/summary?since=' + encodeURIComponent(isoDate(since)));
      renderOverview();
    } catch (e) {
      if (e.status !== 401) toast(t('toast.error', { e: e.message }), true);
    }
  }
  $('period').addEventListener('change', loadSummary);
  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (page === 'overview' && summary) renderChart(summary.days || []); }, 150);
  });

  function isoDate(d) {
    const p = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate());
  }

  function renderOverview() {
    if (!summary) return;
    const s = summary, by = s.by_action || {};
    const total = s.calls || 0;
    const stopped = STOPPED.reduce((a, k) => a + (by[k] || 0), 0);
    const share = (n) => (total ? t('kpi.share', { p: Math.round((n / total) * 100) }) : '');
    const kpis = $('kpis');
    clear(kpis);
    const kpi = (label, value, sub, color) => {
      const n = el('div', { class: 'kpi' }, el('div', { class: 'kpi-label' }, label), el('div', { class: 'kpi-value' }, fmtNum(value)), el('div', { class: 'kpi-sub' }, sub || '\u00a0'));
      if (color) n.style.borderTopColor = color;
      kpis.append(n);
    };
    kpi(t('kpi.calls'), total, '', '#0f3d66');
    kpi(t('kpi.rang'), by.ring || 0, share(by.ring || 0), 'var(--c-ring)');
    kpi(t('kpi.stopped'), stopped, t('kpi.stoppedSub'), 'var(--c-reject)');
    kpi(t('kpi.challenged'), by.challenge || 0, share(by.challenge || 0), 'var(--c-challenge)');
    kpi(t('kpi.voicemail'), by.voicemail || 0, share(by.voicemail || 0), 'var(--c-voicemail)');
    if (s.monitor) {
      const would = Object.values(s.would_have || {}).reduce((a, b) => a + b, 0);
      kpi(t('kpi.monitor'), s.monitor, t('kpi.monitorSub', { n: fmtNum(would) }), 'var(--c-drop)');
    }
    renderChart(s.days || []);
    renderIndicators(s.indicators || [], total);
  }

  // renderChart draws stacked bars of calls per day by action.
  function renderChart(days) {
    const box = $('chart');
    clear(box);
    const legend = $('chart-legend');
    clear(legend);
    ACTIONS.forEach((a) => legend.append(el('span', {}, el('i', { class: 'fill-' + a }), t('action.' + a))));

    // Drawn at the box's own width, so that the text is not stretched.
    const W = Math.max(320, Math.round(box.clientWidth || 760)), H = 260, left = 40, right = 10, top = 12, bottom = 28;
    const max = Math.max(1, ...days.map((d) => d.calls));
    const step = niceStep(max);
    const ymax = Math.ceil(max / step) * step;
    const plotW = W - left - right, plotH = H - top - bottom;
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': t('overview.chart') });
    for (let v = 0; v <= ymax; v += step) {
      const y = top + plotH - (v / ymax) * plotH;
      root.append(svg('line', { x1: left, x2: W - right, y1: y, y2: y, class: v === 0 ? 'axis' : 'grid' }));
      root.append(svg('text', { x: left - 6, y: y + 4, 'text-anchor': 'end' }, fmtNum(v)));
    }
    const n = Math.max(days.length, 1);
    const slot = plotW / n;
    const bw = Math.max(3, Math.min(36, slot * 0.62));
    const labelEvery = Math.ceil(n / 10);
    days.forEach((d, i) => {
      const x = left + i * slot + (slot - bw) / 2;
      let y = top + plotH;
      ACTIONS.forEach((a) => {
        const c = (d.by_action || {})[a] || 0;
        if (!c) return;
        const h = (c / ymax) * plotH;
        y -= h;
        const r = svg('rect', { x: x.toFixed(1), y: y.toFixed(1), width: bw.toFixed(1), height: Math.max(h, 0.5).toFixed(1), class: 'fill-' + a, rx: 1.5 });
        r.append(svg('title', {}, `${d.date} ${t('action.' + a)}: ${c}`));
        root.append(r);
      });
      if (i % labelEvery === 0 || i === n - 1) {
        const [, m, dd] = d.date.split('-');
        root.append(svg('text', { x: (x + bw / 2).toFixed(1), y: H - 9, 'text-anchor': 'middle' }, `${Number(m)}/${Number(dd)}`));
      }
    });
    box.append(root);
  }

  function niceStep(max) {
    const raw = max / 4;
    const p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1))));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return Math.max(1, m * p);
    return Math.max(1, 10 * p);
  }

  function renderIndicators(list, total) {
    const ol = $('indicators');
    clear(ol);
    if (!list.length) { ol.append(el('li', { class: 'muted' }, t('overview.noIndicators'))); return; }
    const top = list.slice(0, 8), max = top[0].calls || 1;
    top.forEach((ind) => {
      const fill = el('div', { class: 'bar-fill' });
      fill.style.width = Math.max(2, (ind.calls / max) * 100) + '%';
      ol.append(el('li', {}, el('span', {}, ind.name), el('span', { class: 'count' }, fmtNum(ind.calls)), el('div', { class: 'bar-track' }, fill)));
    });
  }

  // ---- call log --------------------------------------------------------------------------------

  let calls = [];
  let callsNational = {};
  let callsMore = false;
  let callsOffset = 0;
  const openDetails = new Set();

  function fillSelects() {
    const fill = (sel, prefix, values) => {
      const cur = sel.value;
      while (sel.options.length > 1) sel.remove(1);
      values.forEach((v) => sel.add(new Option(t(prefix + v), v)));
      sel.value = cur;
    };
    fill($('f-action'), 'action.', ACTIONS);
    fill($('f-outcome'), 'outcome.', OUTCOMES);
  }

  function callQuery() {
    const q = new URLSearchParams();
    const caller = $('f-caller').value.trim();
    if (caller) q.set('caller', caller);
    if ($('f-action').value) q.set('action', $('f-action').value);
    if ($('f-outcome').value) q.set('outcome', $('f-outcome').value);
    if (showServers() && $('f-server').value.trim()) q.set('server', $('f-server').value.trim());
    if (isIntegrator() && $('f-tenant').value.trim()) q.set('tenant', $('f-tenant').value.trim());
    if ($('f-since').value) q.set('since', $('f-since').value);
    if ($('f-until').value) q.set('until', $('f-until').value);
    q.set('limit', PAGE_SIZE);
    q.set('offset', callsOffset);
    return q;
  }

  async function loadCalls() {
    try {
      const r = await api('GET', '/api/calls?' + callQuery().toString());
      calls = r.calls || [];
      callsNational = r.national || {};
      callsMore = r.more;
      renderCalls();
    } catch (e) {
      if (e.status !== 401) toast(t('toast.error', { e: e.message }), true);
    }
  }

  $('call-filters').addEventListener('submit', (ev) => { ev.preventDefault(); callsOffset = 0; loadCalls(); });
  $('f-reset').addEventListener('click', () => {
    ['f-caller', 'f-action', 'f-outcome', 'f-server', 'f-tenant', 'f-since', 'f-until'].forEach((id) => { $(id).value = ''; });
    callsOffset = 0;
    loadCalls();
  });
  $('calls-prev').addEventListener('click', () => { callsOffset = Math.max(0, callsOffset - PAGE_SIZE); loadCalls(); });
  $('calls-next').addEventListener('click', () => { callsOffset += PAGE_SIZE; loadCalls(); });

  function isE164(n) { return /^\+[1-9][0-9]{1,14}$/.test(n || ''); }

  function renderCalls() {
    const body = $('calls-body');
    clear(body);
    calls.forEach((c) => {
      const v = c.verdict || {}, f = c.facts || {};
      const caller = v.caller || f.number || '';
      const numbered = isE164(v.caller);
      const reasons = [];
      if (v.override) reasons.push('allow');
      (v.findings || []).forEach((x) => reasons.push(x.indicator));
      if (!reasons.length && v.presence && v.presence !== 'presented') reasons.push(v.presence);
      const scoreClass = v.score >= 80 ? 'score score-high' : v.score >= 20 ? 'score score-mid' : 'score';
      const actions = el('td', { class: 'actions-col' });
      if (numbered) {
        actions.append(
          el('button', { type: 'button', class: 'btn btn-sm btn-allow', 'data-action': 'allow', 'data-number': v.caller, onclick: () => rowAction('allow', v.caller, c.tenant) }, t('row.allow')),
          el('button', { type: 'button', class: 'btn btn-sm btn-block-list', 'data-action': 'block', 'data-number': v.caller, onclick: () => rowAction('block', v.caller, c.tenant) }, t('row.block')),
        );
      }
      const verdict = el('td', {}, el('span', { class: 'badge badge-' + (v.action || '') }, t('action.' + v.action)));
      if (v.monitor) verdict.append(el('span', { class: 'badge badge-monitor' }, t('monitor')));
      const tr = el('tr', { 'data-id': c.id, 'data-caller': caller, class: 'call-row' },
        el('td', { class: 'time' }, fmtTime(c.time)),
        showServers() && el('td', { class: 'mono server' }, c.server || ''),
        isIntegrator() && el('td', { class: 'tenant' }, c.tenant || ''),
        el('td', { class: 'mono caller', title: numbered ? v.caller : '' }, !numbered && (v.presence === 'withheld' || !caller) ? t('calls.withheld') : (callsNational[caller] || caller)),
        el('td', { class: 'name', title: f.name || '' }, f.name || ''),
        el('td', { class: 'mono' }, f.called || ''),
        verdict,
        el('td', { class: 'num' }, el('span', { class: scoreClass }, v.score || 0)),
        el('td', {}, t('outcome.' + c.outcome)),
        el('td', { class: 'reasons' }, reasons.join(', ')),
        actions,
      );
      tr.addEventListener('click', (ev) => {
        if (ev.target.closest('button')) return;
        openDetails.has(c.id) ? openDetails.delete(c.id) : openDetails.add(c.id);
        renderCalls();
      });
      body.append(tr);
      if (openDetails.has(c.id)) body.append(detailRow(c));
    });
    $('calls-empty').hidden = calls.length > 0;
    $('calls-prev').disabled = callsOffset === 0;
    $('calls-next').disabled = !callsMore;
    $('calls-range').textContent = calls.length ? t('calls.range', { a: callsOffset + 1, b: callsOffset + calls.length }) : '';
  }

  function detailRow(c) {
    const v = c.verdict || {}, f = c.facts || {};
    const list = el('ul');
    if (v.override) list.append(el('li', {}, t('calls.override', { o: v.override })));
    (v.findings || []).forEach((x) => list.append(el('li', {}, `${x.indicator} (+${x.weight}): ${x.evidence}`)));
    if (!list.childNodes.length) list.append(el('li', {}, t('calls.noFindings')));
    const extra = [v.reason, f.from && 'From: ' + f.from, f.user_agent && 'User-Agent: ' + f.user_agent, c.detail].filter(Boolean);
    const cols = document.querySelectorAll('#calls-table thead th:not([hidden])').length;
    return el('tr', { class: 'detail' }, el('td', { colspan: cols },
      el('strong', {}, t('calls.details')), list,
      ...extra.map((x) => el('div', {}, x))));
  }

  // rowAction puts a caller on a list: for the integrator, in the scope
  // of the tenant the call was for (fleet-wide for a call without one).
  async function rowAction(kind, number, tenant) {
    const allow = kind === 'allow';
    const r = await confirmDialog(
      t(allow ? 'confirm.allowTitle' : 'confirm.blockTitle'),
      t(allow ? 'confirm.allowBody' : 'confirm.blockBody', { n: number }),
      t(allow ? 'row.allow' : 'row.block'), allow ? 'btn-primary' : 'btn-danger', true);
    if (!r.ok) return;
    try {
      const scope = !isIntegrator() ? {} : tenant ? { tenant } : { scope: 'fleet' };
      await api('POST', '/api/lists/' + kind, { number, reason: r.reason, exclusive: true, ...scope });
      toast(t(allow ? 'toast.allowed' : 'toast.blocked', { n: number }));
      loadState();
    } catch (e) {
      if (e.status !== 401) toast(t('toast.error', { e: e.message }), true);
    }
  }

  // ---- lists -------------------------------------------------------------------------------------

  let kind = 'allow';
  let entries = [];
  let entriesTotal = 0;
  let entriesMore = false;
  let entriesOffset = 0;

  document.querySelectorAll('#list-kinds button').forEach((b) => b.addEventListener('click', () => {
    kind = b.dataset.kind;
    entriesOffset = 0;
    $('entries-prefix').value = '';
    $('import-result').hidden = true;
    $('add-msg').hidden = true;
    loadEntries();
  }));

  async function loadEntries() {
    const q = new URLSearchParams({ limit: 100, offset: entriesOffset });
    const prefix = $('entries-prefix').value.trim();
    if (prefix) q.set('prefix', prefix);
    const scope = hasScopes() ? $('entries-scope').value : '';
    if (scope.startsWith('t:')) q.set('tenant', scope.slice(2));
    else if (scope) q.set('scope', scope);
    try {
      const r = await api('GET', `/api/lists/${kind}?` + q.toString());
      entries = r.entries || [];
      entriesTotal = r.total;
      entriesMore = r.more;
      renderEntries();
    } catch (e) {
      if (e.status !== 401) toast(t('toast.error', { e: e.message }), true);
    }
  }

  $('entries-search').addEventListener('submit', (ev) => { ev.preventDefault(); entriesOffset = 0; loadEntries(); });
  $('entries-scope').addEventListener('change', () => { entriesOffset = 0; loadEntries(); });
  $('add-scope').addEventListener('change', () => { addScopePicked = true; fillScopes(); });
  $('entries-prev').addEventListener('click', () => { entriesOffset = Math.max(0, entriesOffset - 100); loadEntries(); });
  $('entries-next').addEventListener('click', () => { entriesOffset += 100; loadEntries(); });

  function renderEntries() {
    document.querySelectorAll('#list-kinds button').forEach((b) => b.classList.toggle('active', b.dataset.kind === kind));
    $('list-help').textContent = t('help.' + kind);
    $('entries-title').textContent = t('lists.entries', { k: t('kind.' + kind), n: fmtNum(entriesTotal) });
    $('export-link').href = `/api/lists/${kind}/export`;
    const body = $('entries-body');
    clear(body);
    entries.forEach((e) => {
      const fleetWide = e.scope === 'fleet' || !e.tenant;
      const remove = e.read_only
        ? el('span', { class: 'muted small' }, t('lists.readOnly'))
        : el('button', { type: 'button', class: 'btn btn-sm btn-block-list', onclick: () => removeEntry(e) }, t('row.remove'));
      body.append(el('tr', { 'data-number': e.number, 'data-scope': fleetWide ? 'fleet' : 'tenant' },
        el('td', { class: 'mono' }, e.number),
        hasScopes() && el('td', {}, el('span', { class: 'badge ' + (fleetWide ? 'badge-fleet' : 'badge-tenant') }, fleetWide ? t('scope.fleet') : e.tenant)),
        el('td', {}, e.reason || ''),
        el('td', {}, e.source ? t('source.' + e.source) : ''),
        el('td', { class: 'time' }, e.expires ? fmtTime(e.expires) : t('expires.never')),
        el('td', { class: 'time' }, e.created ? fmtTime(e.created) : ''),
        el('td', { class: 'actions-col' }, remove),
      ));
    });
    $('entries-empty').hidden = entries.length > 0;
    $('entries-prev').disabled = entriesOffset === 0;
    $('entries-next').disabled = !entriesMore;
    $('entries-range').textContent = entries.length ? t('lists.range', { a: entriesOffset + 1, b: entriesOffset + entries.length }) : '';
  }

  async function removeEntry(e) {
    const number = e.number;
    const r = await confirmDialog(t('confirm.removeTitle'), t('confirm.removeBody', { n: number, k: t('kind.' + kind) }), t('row.remove'), 'btn-danger', false);
    if (!r.ok) return;
    try {
      const scope = e.tenant ? 'tenant=' + encodeURIComponent(e.tenant) : 'scope=fleet';
      await api('DELETE', `/api/lists/${kind}/${encodeURIComponent(number)}?${scope}`);
      toast(t('toast.removed', { n: number, k: t('kind.' + kind) }));
      loadEntries();
      loadState();
    } catch (e) {
      if (e.status !== 401) toast(t('toast.error', { e: e.message }), true);
    }
  }

  function formMsg(node, text, isError, lines) {
    clear(node);
    node.className = 'form-msg' + (isError ? ' error' : '');
    node.append(el('div', {}, text));
    if (lines && lines.length) node.append(el('ul', {}, ...lines.map((l) => el('li', {}, l))));
    node.hidden = false;
  }

  $('list-add').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { number: $('add-number').value.trim(), reason: $('add-reason').value.trim(), expires: $('add-expires').value, ...scopeBody() };
    try {
      const r = await api('POST', '/api/lists/' + kind, body);
      formMsg($('add-msg'), t('toast.added', { n: r.entry.number, k: t('kind.' + kind) }), false);
      $('add-number').value = '';
      $('add-reason').value = '';
      loadEntries();
      loadState();
    } catch (e) {
      if (e.status !== 401) formMsg($('add-msg'), e.message, true);
    }
  });

  $('import-button').addEventListener('click', async () => {
    const file = $('import-file').files[0];
    if (!file) { formMsg($('import-result'), t('lists.chooseFile'), true); return; }
    const q = new URLSearchParams();
    if ($('import-skip').checked) q.set('skip_bad', 'true');
    const sc = scopeBody();
    if (sc.scope) q.set('scope', sc.scope);
    if (sc.tenant) q.set('tenant', sc.tenant);
    try {
      const r = await api('POST', `/api/lists/${kind}/import` + (q.toString() ? '?' + q.toString() : ''), file, 'text/csv');
      const bad = (r.bad || []).slice(0, 20).map((b) => `${b.line}: ${b.text} — ${b.reason}`);
      formMsg($('import-result'), t('lists.imported', { i: fmtNum(r.imported), a: fmtNum(r.added) }) + (r.bad_lines ? ' ' + t('lists.badLines', { n: r.bad_lines }) : ''), false, bad);
      $('import-file').value = '';
      loadEntries();
      loadState();
    } catch (e) {
      if (e.status === 401) return;
      const b = e.body || {};
      const bad = (b.bad || []).slice(0, 20).map((x) => `${x.line}: ${x.text} — ${x.reason}`);
      formMsg($('import-result'), e.message, true, bad);
    }
  });

  boot();
})();
