extension DashboardAssets {
    /// The run page's timeline (attempts split into load, prompt and generation on one time axis whose idle gaps are
    /// folded), its memory lane (the budget and the resident models over time), and the attempt panel's parts.
    static let timeline = #"""
        // ---------- Timeline and memory lane (one time axis: idle gaps over 5 s are folded to a marker)

        // The time axis: busy spans kept at scale, idle gaps over IDLE_GAP seconds shrunk to one second.
        Baton.axis = function (state) {
          const spans = [];
          const now = Date.now();
          const live = state.run.status === 'running';
          for (const a of state.attempts.values()) {
            const bar = Baton.barTimes(a, now, live);
            if (bar) spans.push([bar.from, bar.to]);
          }
          for (const m of state.memory) if (m.at !== null) spans.push([m.at, m.at]);
          if (!spans.length) return null;
          spans.sort((x, y) => x[0] - y[0]);
          const merged = [spans[0].slice()];
          for (const [from, to] of spans.slice(1)) {
            const last = merged[merged.length - 1];
            if (from <= last[1] + Baton.IDLE_GAP * 1000) last[1] = Math.max(last[1], to);
            else merged.push([from, to]);
          }
          const pieces = [];
          let offset = 0;
          merged.forEach(([from, to], index) => {
            if (index > 0) {
              const gapFrom = merged[index - 1][1];
              pieces.push({ from: gapFrom, to: from, at: offset, width: 1000, gap: true });
              offset += 1000;
            }
            pieces.push({ from: from, to: to, at: offset, width: to - from, gap: false });
            offset += to - from;
          });
          const total = Math.max(offset, 1);
          return {
            pieces: pieces,
            total: total,
            start: merged[0][0],
            // Where time `t` (ms) falls, from 0 to 1.
            x: function (t) {
              for (const p of pieces) {
                if (t <= p.to) {
                  if (t <= p.from) return p.at / total;
                  const inside = p.gap ? (t - p.from) / (p.to - p.from) * p.width : t - p.from;
                  return (p.at + inside) / total;
                }
              }
              return 1;
            },
          };
        };

        // An attempt's bar: from the start of its model load (which precedes the attempt's start) to its end; the load,
        // the wait for the first token (prompt processing, minus a load the runtime did inside the request) and generation.
        Baton.barTimes = function (a, now, live) {
          if (a.status === 'skipped') return null;
          const start = Baton.time(a.started_at);
          if (start === null) return null;
          const t = a.timings || {};
          const load = t.load_wait_ms !== undefined ? t.load_wait_ms : (t.load_ms || 0);
          let end = Baton.time(a.finished_at);
          if (end === null) end = a.status === 'running' && live ? now : start;
          const first = Baton.time(a.first_token_at);
          const inner = Math.min(t.load || 0, first !== null ? first - start : end - start);
          return { from: start - load, start: start, innerLoad: Math.max(0, inner), first: first, to: Math.max(end, start) };
        };

        Baton.renderTimeline = function (state, stageDefs, open) {
          const root = document.getElementById('timeline');
          const axis = Baton.axis(state);
          root.replaceChildren();
          if (!axis) {
            root.appendChild(Baton.el('p', { class: 'empty' }, 'No attempt yet.'));
            return;
          }
          const pct = (v) => (v * 100).toFixed(3) + '%';
          const scale = Baton.el('div', { class: 'tl-row tl-scale' });
          scale.appendChild(Baton.el('div', { class: 'tl-label' }, Baton.started(new Date(axis.start).toISOString())));
          const scaleTrack = Baton.el('div', { class: 'tl-track' });
          for (const piece of axis.pieces) {
            if (!piece.gap) continue;
            const marker = Baton.el('div', { class: 'tl-gap', title: Baton.duration((piece.to - piece.from) / 1000) + ' idle' },
              '⋯ ' + Baton.duration((piece.to - piece.from) / 1000));
            marker.style.left = pct(piece.at / axis.total);
            scaleTrack.appendChild(marker);
          }
          scale.appendChild(scaleTrack);
          root.appendChild(scale);
          const now = Date.now();
          const live = state.run.status === 'running';
          const byStage = new Map();
          for (const a of [...state.attempts.values()].sort((x, y) => x.id - y.id)) {
            if (!byStage.has(a.stage)) byStage.set(a.stage, []);
            byStage.get(a.stage).push(a);
          }
          const names = [...stageDefs.keys()].filter((n) => !stageDefs.get(n).isToolDefinition);
          for (const name of byStage.keys()) if (!stageDefs.has(name)) names.push(name);
          for (const name of names) {
            const row = Baton.el('div', { class: 'tl-row', 'data-stage': name });
            row.appendChild(Baton.el('div', { class: 'tl-label', title: name }, name));
            const track = Baton.el('div', { class: 'tl-track' });
            for (const a of byStage.get(name) || []) {
              const times = Baton.barTimes(a, now, live);
              if (!times) continue;
              const x0 = axis.x(times.from), x1 = axis.x(times.to);
              const bar = Baton.el('div', {
                class: 'attempt-bar', 'data-attempt-id': a.id, 'data-stage': name, 'data-status': a.status,
                title: name + ' · ' + Baton.attemptLabel(a) + ' · ' + a.status + ' · ' + Baton.duration((times.to - times.from) / 1000),
              });
              if (state.selected && state.selected.attempt === a.id) bar.classList.add('selected');
              bar.style.left = pct(x0);
              bar.style.width = pct(Math.max(0, x1 - x0));
              const span = Math.max(times.to - times.from, 1);
              const promptEnd = times.first !== null ? Math.min(Math.max(times.first, times.start), times.to) : times.to;
              const segments = [
                ['seg-load', times.start - times.from + times.innerLoad],
                ['seg-prompt', Math.max(0, promptEnd - times.start - times.innerLoad)],
                ['seg-generate', Math.max(0, times.to - promptEnd)],
              ];
              for (const [cls, ms] of segments) {
                const seg = Baton.el('div', { class: 'seg ' + cls });
                seg.style.width = pct(ms / span);
                bar.appendChild(seg);
              }
              if ((a.round || 1) > 1 || (a.try || 1) > 1 || (stageDefs.get(name) || {}).critic) {
                bar.appendChild(Baton.el('span', { class: 'bar-label' }, 'round ' + (a.round || 1) + ' try ' + (a.try || 1)));
              }
              bar.addEventListener('click', () => open(name, a.id));
              track.appendChild(bar);
            }
            row.appendChild(track);
            root.appendChild(row);
          }
        };

        // Residency intervals from the memory events: a model is resident from its load to its unload (or the run's end).
        Baton.residency = function (state, end) {
          const open = new Map();
          const blocks = [];
          const marks = [];
          const close = (model, at, reason) => {
            const block = open.get(model);
            if (!block) return;
            block.to = at;
            block.endReason = reason;
            open.delete(model);
          };
          for (const m of [...state.memory].sort((x, y) => x.at - y.at)) {
            const p = m.payload;
            if (m.kind === 'models-at-start') {
              for (const model of p.models || []) {
                if (open.has(model)) continue;
                const block = { model: model, from: m.at, to: null, bytes: null, reason: 'resident before the run' };
                open.set(model, block);
                blocks.push(block);
              }
            } else if (m.kind === 'model-loaded' && p.model) {
              const bytes = p.bytes !== undefined ? Number(p.bytes) : null;
              const reason = 'load ' + p.model + (m.stage ? ' for stage ' + m.stage : '') + (p.preloaded ? ' (preloaded)' : '') +
                (bytes !== null ? ', ' + Baton.bytes(bytes) : '') + (p.seconds ? ', ' + p.seconds + ' s' : '');
              marks.push({ kind: 'load', at: m.at, model: p.model, reason: reason });
              if (!open.has(p.model)) {
                const block = { model: p.model, from: m.at, to: null, bytes: bytes, reason: reason };
                open.set(p.model, block);
                blocks.push(block);
              }
            } else if ((m.kind === 'model-unloaded' || m.kind === 'model-evicted-by-runtime') && p.model) {
              const why = m.kind === 'model-evicted-by-runtime' ? 'evicted by its runtime' : (p.reason || 'unloaded after stage ' + (m.stage || '?'));
              marks.push({ kind: 'unload', at: m.at, model: p.model, reason: 'unload ' + p.model + ': ' + why });
              close(p.model, m.at, why);
            } else if (m.kind === 'after-run') {
              for (const model of p.unloaded || []) {
                const why = 'after_run: ' + (p.policy || 'restore');
                marks.push({ kind: 'unload', at: m.at, model: model, reason: 'unload ' + model + ': ' + why });
                close(model, m.at, why);
              }
            }
          }
          for (const block of blocks) if (block.to === null) block.to = end;
          return { blocks: blocks, marks: marks };
        };

        Baton.renderMemory = function (state) {
          const root = document.getElementById('memory-lane');
          const axis = Baton.axis(state);
          const live = state.run.status === 'running';
          const end = live ? Date.now() : (Baton.time(state.run.finished_at) || (axis ? axis.start + axis.total : Date.now()));
          const { blocks, marks } = Baton.residency(state, end);
          root.replaceChildren();
          const row = Baton.el('div', { class: 'tl-row mem-row' });
          const label = Baton.el('div', { class: 'tl-label' });
          row.appendChild(label);
          const track = Baton.el('div', { class: 'tl-track' });
          row.appendChild(track);
          root.appendChild(row);
          if (!blocks.length && !marks.length) {
            label.textContent = state.budget ? 'budget ' + Baton.bytes(state.budget) : 'no budget';
            track.appendChild(Baton.el('p', { class: 'empty mem-budget', 'data-bytes': state.budget === null ? '' : state.budget },
              'No model was loaded or unloaded by this run (models already resident, or a runtime that loads nothing).'));
            return;
          }
          const width = Math.max(track.clientWidth || 600, 200);
          const height = 120;
          const svg = Baton.svg('svg', { class: 'mem-svg', width: width, height: height + 14, viewBox: '0 0 ' + width + ' ' + (height + 14) });
          track.appendChild(svg);
          const known = blocks.filter((b) => b.bytes !== null && !isNaN(b.bytes));
          const nominal = state.budget ? state.budget / 4 : (known.length ? Math.max(...known.map((b) => b.bytes)) : 1);
          const size = (b) => (b.bytes !== null && !isNaN(b.bytes) ? b.bytes : nominal);
          // Stacked in load order at every moment: cut the time line at every load and unload.
          const cuts = [...new Set(blocks.flatMap((b) => [b.from, b.to]))].sort((x, y) => x - y);
          let peak = 0;
          for (const t of cuts) {
            peak = Math.max(peak, blocks.filter((b) => b.from <= t && b.to > t).reduce((n, b) => n + size(b), 0));
          }
          const top = Math.max(peak, state.budget || 0, 1) * 1.1;
          const y = (bytes) => height - bytes / top * height;
          const x = (t) => (axis ? axis.x(t) : 0) * width;
          label.textContent = state.budget ? 'budget ' + Baton.bytes(state.budget) : (blocks.length ? 'no budget' : 'no model loads');
          const budget = Baton.svg('g', { class: 'mem-budget', 'data-bytes': state.budget === null ? '' : state.budget });
          if (state.budget) {
            budget.appendChild(Baton.svg('line', { x1: 0, x2: width, y1: y(state.budget), y2: y(state.budget) }));
            Baton.svgTitle(budget, 'memory budget ' + Baton.bytes(state.budget));
          }
          blocks.forEach((block, index) => {
            const g = Baton.svg('g', { class: 'mem-block' + (block.bytes === null ? ' unknown' : ''), 'data-model': block.model, 'data-color': index % 6 });
            Baton.svgTitle(g, block.model + ' · ' + (block.bytes === null ? 'size unknown' : Baton.bytes(block.bytes)) + ' · ' + block.reason +
              (block.endReason ? ' · ' + block.endReason : ''));
            for (let i = 0; i + 1 < cuts.length; i++) {
              const from = cuts[i], to = cuts[i + 1];
              if (block.from > from || block.to < to) continue;
              const below = blocks.slice(0, index).filter((b) => b.from <= from && b.to >= to).reduce((n, b) => n + size(b), 0);
              const x0 = x(from), x1 = x(to);
              g.appendChild(Baton.svg('rect', {
                x: x0, width: Math.max(x1 - x0, 1), y: y(below + size(block)), height: Math.max(y(below) - y(below + size(block)), 1),
              }));
            }
            const first = g.querySelector('rect');
            if (first && Number(first.getAttribute('width')) > 60) {
              g.appendChild(Baton.svg('text', { x: Number(first.getAttribute('x')) + 4, y: Number(first.getAttribute('y')) + 12 }, block.model));
            }
            svg.appendChild(g);
          });
          svg.appendChild(budget);
          for (const mark of marks) {
            const cx = x(mark.at);
            const g = Baton.svg('g', { class: 'mem-event', 'data-kind': mark.kind, 'data-model': mark.model });
            const path = mark.kind === 'load'
              ? 'M ' + (cx - 5) + ' ' + (height + 13) + ' L ' + (cx + 5) + ' ' + (height + 13) + ' L ' + cx + ' ' + (height + 3) + ' z'
              : 'M ' + (cx - 5) + ' ' + (height + 3) + ' L ' + (cx + 5) + ' ' + (height + 3) + ' L ' + cx + ' ' + (height + 13) + ' z';
            g.appendChild(Baton.svg('path', { d: path }));
            Baton.svgTitle(g, mark.reason);
            svg.appendChild(g);
          }
        };

        // ---------- Attempt panel parts

        Baton.attemptLabel = function (a) {
          let label = 'round ' + (a.round || 1) + ' try ' + (a.try || 1);
          if (a.item !== null && a.item !== undefined) label += ' · item ' + (a.item + 1);
          if (a.turn) label += ' · turn ' + a.turn;
          return label;
        };

        Baton.attemptTabs = function (list, selected, open) {
          const nav = Baton.el('div', { class: 'attempt-tabs' });
          for (const a of list) {
            const button = Baton.el('button', { type: 'button', class: 'tab', 'data-status': a.status, 'data-attempt-id': a.id },
              Baton.attemptLabel(a));
            if (a.id === selected) button.classList.add('selected');
            button.addEventListener('click', () => open(a.id));
            nav.appendChild(button);
          }
          return nav;
        };

        Baton.attemptMeta = function (a, def, fallbacks, base) {
          const dl = Baton.el('dl', { class: 'meta' });
          function row(name, value, cls) {
            if (value === null || value === undefined || value === '') return;
            dl.appendChild(Baton.el('dt', {}, name));
            dl.appendChild(Baton.el('dd', cls ? { class: cls } : {}, value));
          }
          if (a) {
            row('status', a.status, 'status-text');
            row('model', (a.runtime ? a.runtime + ':' : '') + (a.model || '–'));
          }
          const settings = def && def.settings ? Object.entries(def.settings)
            .filter(([, v]) => v !== null && typeof v !== 'object').map(([k, v]) => k + '=' + v).join('  ') : '';
          row('settings', settings, 'mono');
          if (a) {
            row('tokens', Baton.count(a.prompt_tokens) + ' in · ' + Baton.count(a.output_tokens) + ' out');
            const t = a.timings || {};
            const start = Baton.time(a.started_at), first = Baton.time(a.first_token_at), end = Baton.time(a.finished_at);
            const parts = [];
            if (t.load_wait_ms !== undefined) parts.push('load wait ' + Baton.duration(t.load_wait_ms / 1000));
            else if (t.load_ms !== undefined) parts.push('load ' + Baton.duration(t.load_ms / 1000));
            if (t.resident === 1) parts.push('already resident');
            if (start && first) parts.push('first token ' + Baton.duration((first - start) / 1000));
            if (start && end) parts.push('total ' + Baton.duration((end - start) / 1000));
            if (t.prompt !== undefined) parts.push('runtime prompt ' + Baton.duration(t.prompt / 1000));
            if (t.generation !== undefined) parts.push('generation ' + Baton.duration(t.generation / 1000));
            row('timings', parts.join(' · '));
            row('started', a.started_at);
            row('verdict', a.verdict, 'verdict');
            row('feedback', a.feedback);
            row('finish', a.finish_reason);
            row('error', a.error, 'error');
          }
          for (const f of fallbacks) {
            const p = f.payload;
            row('fallback', (p.from || '?') + ' → ' + (p.to || '?') + (p.reason ? ': ' + p.reason : '') + (p.error ? ' (' + p.error + ')' : ''));
          }
          if (a && a.thinking) {
            dl.appendChild(Baton.el('dt', {}, 'thinking'));
            const dd = Baton.el('dd');
            const box = Baton.el('details');
            box.appendChild(Baton.el('summary', {}, Baton.count(a.thinking.length) + ' characters'));
            box.appendChild(Baton.el('pre', { class: 'text' }, a.thinking));
            dd.appendChild(box);
            dl.appendChild(dd);
          }
          if (a && a.id !== undefined) {
            dl.appendChild(Baton.el('dt', {}, 'raw'));
            const dd = Baton.el('dd');
            dd.appendChild(Baton.el('a', { href: base + '/attempts/' + a.id }, 'attempt JSON'));
            dl.appendChild(dd);
          }
          return dl;
        };
        """#
}
