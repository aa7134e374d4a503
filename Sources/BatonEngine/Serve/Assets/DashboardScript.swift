/// The dashboard's script and stylesheet, served by `baton serve` at `/assets/dashboard.js` and `/assets/dashboard.css`:
/// the binary carries them, so the pages need no build step and no network.
public enum DashboardAssets {
    /// The whole script: the helpers, the runs list and the compare page here, the run page and its timeline in the
    /// extensions (`DashboardScript+Run.swift`, `DashboardScript+Timeline.swift`).
    public static let script = core + runPage + timeline

    /// Helpers, the runs list, the compare page, and the dispatch on `<body data-page>`.
    static let core = #"""
        // Baton dashboard (baton serve). Plain script, no build step. Run data reaches the DOM only through textContent and
        // setAttribute, never parsed as markup: a prompt or output holding markup stays text.
        'use strict';

        const Baton = {};

        Baton.el = function (tag, attrs, text) {
          const node = document.createElement(tag);
          for (const [key, value] of Object.entries(attrs || {})) {
            if (value !== null && value !== undefined && value !== false) node.setAttribute(key, String(value));
          }
          if (text !== null && text !== undefined) node.textContent = String(text);
          return node;
        };

        Baton.svg = function (tag, attrs, text) {
          const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
          for (const [key, value] of Object.entries(attrs || {})) {
            if (value !== null && value !== undefined) node.setAttribute(key, String(value));
          }
          if (text !== null && text !== undefined) node.textContent = String(text);
          return node;
        };

        // A tooltip on an SVG element: a <title> child (what browsers show) and the title attribute (what tests read).
        Baton.svgTitle = function (node, text) {
          node.setAttribute('title', text);
          node.appendChild(Baton.svg('title', {}, text));
        };

        // Replaces an element's text only when it changed, so a re-render keeps what the reader scrolled to.
        Baton.setText = function (node, text) {
          if (node.shownText === text) return;
          node.shownText = text;
          if (text.length <= 64 * 1024) {
            node.textContent = text;
            return;
          }
          // A long text in blocks the browser lays out only when scrolled to (content-visibility), cut after a line break
          // where there is one: a 5 MB output in one text node takes seconds to lay out.
          // A block's height before it is laid out, guessed from its lines at ~7.2 px per character and 17 px per line.
          const perLine = Math.max(20, Math.floor((node.clientWidth || 600) / 7.2));
          const blocks = [];
          for (let start = 0; start < text.length;) {
            let end = Math.min(start + 16 * 1024, text.length);
            const newline = text.lastIndexOf('\n', end);
            if (end < text.length && newline > start) end = newline + 1;
            const part = text.slice(start, end);
            const block = Baton.el('span', { class: 'block' }, part);
            const lines = part.split('\n').reduce((n, line) => n + Math.max(1, Math.ceil(line.length / perLine)), 0);
            block.style.containIntrinsicSize = 'auto ' + lines * 17 + 'px';
            blocks.push(block);
            start = end;
          }
          node.replaceChildren(...blocks);
        };

        Baton.getJSON = async function (url) {
          const response = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
          const text = await response.text();
          let data = null;
          try { data = JSON.parse(text); } catch (error) { data = null; }
          if (!response.ok) throw new Error((data && data.error) || (response.status + ' ' + response.statusText));
          return data;
        };

        // Stored payloads are JSON text; the event streams send them parsed.
        Baton.payload = function (value) {
          if (value === null || value === undefined) return {};
          if (typeof value === 'string') {
            try { return JSON.parse(value) || {}; } catch (error) { return { text: value }; }
          }
          return value;
        };

        Baton.time = function (value) {
          if (value === null || value === undefined) return null;
          if (typeof value === 'number') return value * 1000;
          const ms = Date.parse(value);
          return isNaN(ms) ? null : ms;
        };

        Baton.duration = function (seconds) {
          if (seconds === null || seconds === undefined || isNaN(seconds)) return '–';
          if (seconds < 1) return Math.round(seconds * 1000) + ' ms';
          if (seconds < 60) return seconds.toFixed(1) + ' s';
          const s = Math.round(seconds);
          if (s < 3600) return Math.floor(s / 60) + 'm ' + String(s % 60).padStart(2, '0') + 's';
          return Math.floor(s / 3600) + 'h ' + String(Math.floor(s / 60) % 60).padStart(2, '0') + 'm';
        };

        Baton.count = function (n) {
          if (n === null || n === undefined) return '–';
          if (n >= 100000) return Math.round(n / 1000) + 'k';
          if (n >= 10000) return (n / 1000).toFixed(1) + 'k';
          return String(n);
        };

        Baton.bytes = function (n) {
          if (n === null || n === undefined || isNaN(n)) return '?';
          if (n >= 1e9) return (n / 1e9).toFixed(1) + ' GB';
          if (n >= 1e6) return Math.round(n / 1e6) + ' MB';
          return Math.round(n / 1e3) + ' kB';
        };

        Baton.started = function (value) {
          const ms = Baton.time(value);
          if (ms === null) return '–';
          const date = new Date(ms);
          const pad = (n) => String(n).padStart(2, '0');
          const clock = pad(date.getHours()) + ':' + pad(date.getMinutes()) + ':' + pad(date.getSeconds());
          if (date.toDateString() === new Date().toDateString()) return clock;
          return date.getFullYear() + '-' + pad(date.getMonth() + 1) + '-' + pad(date.getDate()) + ' ' + clock;
        };

        Baton.debounce = function (fn, ms) {
          let timer = null;
          return function () {
            clearTimeout(timer);
            timer = setTimeout(fn, ms);
          };
        };

        // Runs `fn` at the next frame, or after 100 ms where frames do not come (a hidden tab).
        Baton.nextFrame = function (fn) {
          let done = false;
          const once = () => { if (!done) { done = true; fn(); } };
          requestAnimationFrame(once);
          setTimeout(once, 100);
        };

        Baton.streamState = function (text, bad) {
          const node = document.getElementById('stream-state');
          if (!node) return;
          node.textContent = text;
          node.classList.toggle('bad', !!bad);
        };

        // ---------- Runs list

        Baton.runsPage = function () {
          const tbody = document.querySelector('#runs tbody');
          const statusFilter = document.getElementById('filter-status');
          const pipelineFilter = document.getElementById('filter-pipeline');
          const empty = document.getElementById('runs-empty');
          const rows = new Map();
          let runs = [];
          let source = null;
          const params = new URLSearchParams(location.search);
          statusFilter.value = params.get('status') || '';
          pipelineFilter.value = params.get('pipeline') || '';

          function cell(row, name) {
            return row.querySelector('td.' + name);
          }

          function row(run) {
            let tr = rows.get(run.id);
            if (!tr) {
              tr = Baton.el('tr', { class: 'run-row' });
              for (const name of ['id', 'pipeline', 'status', 'profile', 'started', 'duration', 'tokens', 'stage']) {
                tr.appendChild(Baton.el('td', { class: name }));
              }
              cell(tr, 'id').appendChild(Baton.el('a', { href: '/runs/' + encodeURIComponent(run.id) }, run.id));
              cell(tr, 'status').appendChild(Baton.el('span', { class: 'status' }));
              rows.set(run.id, tr);
            }
            tr.setAttribute('data-run-id', run.id);
            tr.setAttribute('data-status', run.status);
            tr.run = run;
            cell(tr, 'pipeline').textContent = run.pipeline;
            const status = cell(tr, 'status').firstChild;
            status.textContent = run.status;
            status.setAttribute('data-status', run.status);
            if (run.error) status.setAttribute('title', run.error); else status.removeAttribute('title');
            cell(tr, 'profile').textContent = run.profile || '–';
            cell(tr, 'started').textContent = Baton.started(run.created_at);
            cell(tr, 'started').setAttribute('title', run.created_at || '');
            cell(tr, 'tokens').textContent = Baton.count(run.prompt_tokens) + ' in · ' + Baton.count(run.output_tokens) + ' out';
            cell(tr, 'stage').textContent = run.current_stage || '';
            cell(tr, 'stage').setAttribute('title', (run.stages_done ?? '?') + ' of ' + (run.stages_total ?? '?') + ' stages done');
            tick(tr);
            return tr;
          }

          // A running run's duration grows between refetches.
          function tick(tr) {
            const run = tr.run;
            let seconds = run.duration_seconds;
            if (run.status === 'running') {
              const start = Baton.time(run.created_at);
              if (start !== null) seconds = Math.max(0, (Date.now() - start) / 1000);
            }
            cell(tr, 'duration').textContent = Baton.duration(seconds);
          }

          function visible(run) {
            const status = statusFilter.value;
            const pipeline = pipelineFilter.value.trim().toLowerCase();
            return (!status || run.status === status) && (!pipeline || run.pipeline.toLowerCase().includes(pipeline));
          }

          function render() {
            const shown = runs.filter(visible);
            shown.sort((x, y) => (Baton.time(y.created_at) - Baton.time(x.created_at)) || (x.id < y.id ? 1 : -1));
            const wanted = new Set(shown.map((run) => run.id));
            for (const [id, tr] of rows) {
              if (!wanted.has(id)) { tr.remove(); rows.delete(id); }
            }
            let previous = null;
            for (const run of shown) {
              const tr = row(run);
              const expected = previous ? previous.nextSibling : tbody.firstChild;
              if (tr !== expected) tbody.insertBefore(tr, expected);
              previous = tr;
            }
            empty.hidden = shown.length > 0;
            empty.textContent = runs.length ? 'No runs match the filters.' : 'No runs in this database yet: start one with baton run PIPELINE.';
          }

          async function load() {
            const query = new URLSearchParams({ limit: '500' });
            if (statusFilter.value) query.set('status', statusFilter.value);
            let data;
            try {
              data = await Baton.getJSON('/api/runs?' + query);
            } catch (error) {
              Baton.streamState('cannot load runs: ' + error.message, true);
              return;
            }
            runs = data.runs || [];
            render();
            if (!source) follow(data.last_event_id || 0);
          }

          function follow(after) {
            source = new EventSource('/api/events?after=' + after);
            const refetch = Baton.debounce(load, 300);
            source.onmessage = refetch;
            source.onopen = () => Baton.streamState('live');
            source.onerror = () => Baton.streamState('reconnecting…', true);
          }

          function remember() {
            const query = new URLSearchParams();
            if (statusFilter.value) query.set('status', statusFilter.value);
            if (pipelineFilter.value.trim()) query.set('pipeline', pipelineFilter.value.trim());
            const search = query.toString();
            history.replaceState(null, '', location.pathname + (search ? '?' + search : ''));
          }

          statusFilter.addEventListener('change', () => { remember(); render(); load(); });
          pipelineFilter.addEventListener('input', () => { remember(); render(); });
          setInterval(() => { for (const tr of rows.values()) if (tr.run.status === 'running') tick(tr); }, 1000);
          load();
        };

        // ---------- Compare

        Baton.comparePage = function () {
          const a = document.body.dataset.a;
          const b = document.body.dataset.b;
          fillPickers();
          if (a && b) load();

          async function fillPickers() {
            let data;
            try { data = await Baton.getJSON('/api/runs?limit=200'); } catch (error) { return; }
            for (const select of [document.getElementById('compare-a'), document.getElementById('compare-b')]) {
              if (!select) continue;
              const selected = select.dataset.selected;
              for (const run of data.runs || []) {
                const label = run.id + ' · ' + run.pipeline + ' · ' + run.status + ' · ' + Baton.started(run.created_at);
                select.appendChild(Baton.el('option', { value: run.id, selected: run.id === selected ? 'selected' : null }, label));
              }
            }
          }

          async function load() {
            const summary = document.getElementById('compare-summary');
            let data;
            try {
              data = await Baton.getJSON('/api/compare?a=' + encodeURIComponent(a) + '&b=' + encodeURIComponent(b));
            } catch (error) {
              summary.textContent = 'Cannot compare: ' + error.message;
              summary.classList.add('error');
              return;
            }
            const tbody = document.querySelector('#compare tbody');
            tbody.replaceChildren();
            for (const stage of data.stages) tbody.appendChild(stageRow(stage));
            const changed = data.stages.filter((s) => s.changed).length;
            summary.textContent = data.a.pipeline + ' (' + data.a.status + ') against ' + data.b.pipeline + ' (' + data.b.status + '): ' +
              changed + ' of ' + data.stages.length + ' stages changed';
          }

          function stageRow(stage) {
            const changedFields = new Set(stage.changes.map((c) => c.field));
            const tr = Baton.el('tr', { class: 'stage-row', 'data-stage': stage.stage, 'data-changed': stage.changed ? 'true' : 'false' });
            const name = Baton.el('td', { class: 'stage' }, stage.stage);
            if (!stage.a) name.appendChild(Baton.el('span', { class: 'badge changed' }, 'only in B'));
            if (!stage.b) name.appendChild(Baton.el('span', { class: 'badge changed' }, 'only in A'));
            tr.appendChild(name);
            for (const side of [stage.a, stage.b]) {
              const td = Baton.el('td', { class: 'status-cell' });
              if (side) td.appendChild(Baton.el('span', { class: 'status', 'data-status': side.status }, side.status));
              tr.appendChild(td);
            }
            const modelChanged = [...changedFields].some((f) => f === 'model' || f.startsWith('models') || f === 'runtime');
            for (const side of [stage.a, stage.b]) {
              tr.appendChild(Baton.el('td', { class: 'model' + (modelChanged ? ' changed' : '') }, side ? (side.model || '–') : ''));
            }
            const what = Baton.el('td', { class: 'changes' });
            const list = Baton.el('ul');
            for (const change of stage.changes) {
              const item = Baton.el('li', { class: 'changed', 'data-field': change.field });
              item.appendChild(Baton.el('b', {}, change.field + ': '));
              item.appendChild(Baton.el('del', {}, change.a ?? 'unset'));
              item.appendChild(document.createTextNode(' → '));
              item.appendChild(Baton.el('ins', {}, change.b ?? 'unset'));
              list.appendChild(item);
            }
            if (stage.fingerprint_changed) list.appendChild(Baton.el('li', { class: 'effect' }, 'fingerprint differs'));
            if (stage.prompt_changed && !changedFields.has('prompt_template')) {
              list.appendChild(Baton.el('li', { class: 'effect' }, 'prompt differs'));
            }
            if (stage.output_changed) list.appendChild(Baton.el('li', { class: 'effect' }, 'output differs'));
            if (!list.childNodes.length) list.appendChild(Baton.el('li', { class: 'same' }, 'same'));
            what.appendChild(list);
            tr.appendChild(what);
            const diffs = Baton.el('td', { class: 'diffs' });
            if (stage.prompt_changed) diffs.appendChild(diffBox('prompt', stage.prompt_diff));
            if (stage.output_changed) diffs.appendChild(diffBox('output', stage.output_diff));
            if (stage.truncated) diffs.appendChild(Baton.el('p', { class: 'note' }, 'diffed on the first 200,000 characters'));
            tr.appendChild(diffs);
            return tr;
          }

          // A line diff; long runs of equal lines fold to their first and last three.
          function diffBox(what, ops) {
            const added = ops.filter((op) => op.op === 'insert').reduce((n, op) => n + lines(op.text).length, 0);
            const removed = ops.filter((op) => op.op === 'delete').reduce((n, op) => n + lines(op.text).length, 0);
            const box = Baton.el('details', { class: 'diff-box', 'data-diff': what });
            box.appendChild(Baton.el('summary', {}, what + ' diff (+' + added + ' −' + removed + ')'));
            const pre = Baton.el('pre', { class: 'diff' });
            for (const op of ops) {
              if (op.op === 'insert') pre.appendChild(Baton.el('ins', {}, op.text));
              else if (op.op === 'delete') pre.appendChild(Baton.el('del', {}, op.text));
              else {
                const all = lines(op.text);
                if (all.length <= 8) pre.appendChild(Baton.el('span', {}, op.text));
                else {
                  pre.appendChild(Baton.el('span', {}, all.slice(0, 3).join('')));
                  pre.appendChild(Baton.el('span', { class: 'fold' }, '⋯ ' + (all.length - 6) + ' equal lines\n'));
                  pre.appendChild(Baton.el('span', {}, all.slice(-3).join('')));
                }
              }
            }
            box.appendChild(pre);
            return box;
          }

          function lines(text) {
            return text.match(/[^\n]*\n|[^\n]+$/g) || [];
          }
        };

        document.addEventListener('DOMContentLoaded', () => {
          const page = document.body.dataset.page;
          if (page === 'runs') Baton.runsPage();
          else if (page === 'run') Baton.runPage();
          else if (page === 'compare') Baton.comparePage();
        });
        """#
}
