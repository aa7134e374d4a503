extension DashboardAssets {
    /// The run page: the run's document, its event stream (each event applied once), the graph's statuses, the attempt
    /// panel with the streaming output, and the actions.
    static let runPage = #"""
        // ---------- Run page: state, events, graph

        Baton.OUTPUT_LIMIT = 200 * 1024;
        Baton.IDLE_GAP = 5;

        Baton.runPage = function () {
          const runID = document.body.dataset.runId;
          const base = '/api/runs/' + encodeURIComponent(runID);
          const state = {
            run: {}, plan: { stages: [] }, profile: null, budget: null, inputs: {},
            attempts: new Map(), applied: new Set(), lastEventID: 0,
            items: new Map(), skipped: new Set(), memory: [], fallbacks: [],
            selected: null, showAll: false, fetching: new Set(), again: new Set(), ended: false,
          };
          const stageDefs = new Map();
          let renderQueued = false;
          let outputQueued = false;

          function attemptsOf(stage) {
            return [...state.attempts.values()].filter((a) => a.stage === stage).sort((x, y) => x.id - y.id);
          }

          function merge(id, record, full) {
            const current = state.attempts.get(id) || { id: id, output: '' };
            const streamed = current.output || '';
            for (const [key, value] of Object.entries(record)) {
              if (!full && (key === 'output' || key === 'prompt')) continue;
              current[key] = value;
            }
            current.id = id;
            // A stored running attempt may be behind the chunks already applied (both are prefixes of one text).
            if (full && record.status === 'running' && streamed.length > (record.output || '').length) current.output = streamed;
            if (typeof current.timings === 'string') current.timings = Baton.payload(current.timings);
            if (full) current.final = current.status !== 'running';
            state.attempts.set(id, current);
            return current;
          }

          // Applies one event of the log, once: the initial document's and the stream's overlap after a reconnect.
          function apply(event) {
            if (event.id === null || event.id === undefined || state.applied.has(event.id)) return;
            state.applied.add(event.id);
            if (event.id > state.lastEventID) state.lastEventID = event.id;
            const p = Baton.payload(event.payload);
            const id = event.attempt_id;
            if (event.attempt && id !== null && id !== undefined) merge(id, event.attempt, false);
            switch (event.kind) {
              case 'attempt-started':
                if (!state.attempts.has(id)) {
                  merge(id, { stage: event.stage, status: 'running', started_at: event.at, round: p.round, try: p.try, item: p.item }, false);
                }
                if (state.selected && state.selected.follow && state.selected.stage === event.stage && state.selected.attempt !== id) {
                  state.selected.attempt = id;
                  permalink();
                  fetchAttempt(id);
                }
                break;
              case 'attempt-completed': case 'attempt-failed': case 'attempt-interrupted': case 'attempt-aborted': {
                const attempt = state.attempts.get(id);
                if (attempt) {
                  if (!event.attempt) {
                    attempt.status = event.kind.slice('attempt-'.length);
                    attempt.finished_at = event.at;
                  }
                  attempt.final = false;  // the stored output replaces the streamed one
                  if (state.selected && state.selected.attempt === id) fetchAttempt(id);
                }
                break;
              }
              case 'output-chunk': chunk(id, p); break;
              case 'stage-skipped': state.skipped.add(event.stage); break;
              case 'items-expanded': state.items.set(event.stage, Number(p.count)); break;
              case 'model-fallback': state.fallbacks.push({ stage: event.stage, payload: p }); break;
              case 'model-loaded': case 'model-unloaded': case 'model-evicted-by-runtime': case 'after-run': case 'models-at-start':
                state.memory.push({ kind: event.kind, at: Baton.time(event.at), stage: event.stage, payload: p });
                break;
              case 'run-completed': case 'run-failed': case 'run-interrupted':
                state.run.status = event.kind.slice('run-'.length);
                state.run.finished_at = event.at;
                if (p.error) state.run.error = p.error;
                break;
              case 'run-resumed': state.run.status = 'running'; state.run.finished_at = null; break;
              case 'lease-acquired':
                if (p.pid) state.run.lease_pid = Number(p.pid);
                if (p.host) state.run.lease_host = p.host;
                break;
            }
            queueRender();
          }

          // An output-chunk's delta joins the attempt's text when it starts where the text ends; a chunk already applied
          // is ignored, and a gap (chunks lost, or a document older than the stream) refetches the attempt.
          function chunk(id, p) {
            const attempt = state.attempts.get(id);
            if (!attempt || attempt.final || typeof p.text !== 'string') return;
            const offset = Number(p.offset);
            const current = attempt.output || '';
            if (offset === current.length) attempt.output = current + p.text;
            else if (offset < current.length) {
              if (offset + p.text.length > current.length) attempt.output = current + p.text.slice(current.length - offset);
            } else fetchAttempt(id);
            if (state.selected && state.selected.attempt === id) queueOutput();
          }

          // Reads an attempt's stored record; asked again while a read is on its way (the attempt ended meanwhile), it reads
          // once more after, so an older answer never has the last word.
          async function fetchAttempt(id) {
            if (state.fetching.has(id)) {
              state.again.add(id);
              return;
            }
            state.fetching.add(id);
            try {
              const data = await Baton.getJSON(base + '/attempts/' + id);
              merge(id, data.attempt, true);
              if (state.selected && state.selected.attempt === id) renderPanel();
            } catch (error) {
              Baton.streamState('cannot load attempt ' + id + ': ' + error.message, true);
            } finally {
              state.fetching.delete(id);
              if (state.again.delete(id)) fetchAttempt(id);
            }
          }

          function queueRender() {
            if (renderQueued) return;
            renderQueued = true;
            Baton.nextFrame(() => { renderQueued = false; render(); });
          }

          function queueOutput() {
            if (outputQueued) return;
            outputQueued = true;
            Baton.nextFrame(() => { outputQueued = false; renderOutput(); });
          }

          function stageStatus(name) {
            const list = attemptsOf(name);
            const live = state.run.status === 'running';
            if (!list.length) return state.skipped.has(name) ? 'skipped' : 'pending';
            if (list.some((a) => a.status === 'running')) return live ? 'running' : 'interrupted';
            const total = state.items.get(name);
            if (total !== undefined && stageDefs.get(name) && stageDefs.get(name).fanOut) {
              if (itemsDone(list) >= total) return 'completed';
              if (live) return 'running';
            }
            const last = list[list.length - 1].status;
            if (last === 'completed' || last === 'skipped' || last === 'failed' || last === 'interrupted') return last;
            if (last === 'aborted') return 'interrupted';
            return 'pending';
          }

          function itemsDone(list) {
            return new Set(list.filter((a) => a.status === 'completed').map((a) => a.item)).size;
          }

          function renderGraph() {
            for (const node of document.querySelectorAll('#graph g.stage')) {
              const name = node.getAttribute('data-stage');
              node.setAttribute('data-status', stageStatus(name));
              const total = state.items.get(name);
              if (total !== undefined) {
                const text = itemsDone(attemptsOf(name)) + '/' + total;
                node.setAttribute('data-items', text);
                const label = node.querySelector('text.items');
                if (label) label.textContent = text;
              }
              node.classList.toggle('selected', !!state.selected && state.selected.stage === name);
            }
          }

          function renderHead() {
            const run = state.run;
            const status = document.getElementById('run-status');
            status.textContent = run.status || '?';
            status.setAttribute('data-status', run.status || '');
            document.getElementById('run-profile').textContent = state.profile || '–';
            document.getElementById('run-started').textContent = Baton.started(run.created_at);
            const start = Baton.time(run.created_at);
            const end = run.status === 'running' ? Date.now() : Baton.time(run.finished_at) || Baton.time(run.updated_at);
            document.getElementById('run-duration').textContent = start && end ? Baton.duration((end - start) / 1000) : '–';
            let prompt = 0, output = 0;
            for (const a of state.attempts.values()) { prompt += a.prompt_tokens || 0; output += a.output_tokens || 0; }
            const host = document.getElementById('run-host');
            if (host) host.textContent = run.lease_host ? run.lease_host + (run.lease_pid ? ' (pid ' + run.lease_pid + ')' : '') : '–';
            document.getElementById('run-tokens').textContent = Baton.count(prompt) + ' in · ' + Baton.count(output) + ' out';
            document.getElementById('event-count').textContent = String(state.applied.size);
            document.getElementById('last-event-id').textContent = String(state.lastEventID);
            const error = document.getElementById('run-error');
            error.hidden = !run.error;
            error.textContent = run.error || '';
            const interrupt = document.querySelector('[data-action=interrupt] ~ .equivalent-command');
            if (interrupt) {
              interrupt.textContent = run.status === 'running' && run.lease_pid
                ? 'kill -INT ' + run.lease_pid + (run.lease_host ? '   # on ' + run.lease_host : '') : 'kill -INT PID   # no live process';
            }
          }

          function renderInputs() {
            const list = document.getElementById('run-inputs');
            list.replaceChildren();
            for (const [name, value] of Object.entries(state.inputs || {})) {
              list.appendChild(Baton.el('dt', {}, name));
              list.appendChild(Baton.el('dd', {}, value.length > 2000 ? value.slice(0, 2000) + '…' : value));
            }
            document.getElementById('run-inputs-box').hidden = !list.childNodes.length;
          }

          // A graph shrinks to fit its panel when that keeps it at 60 % of its size or more; a larger one keeps its size
          // and scrolls (shrunk further its names could not be read).
          function fitGraph() {
            const graph = document.getElementById('graph');
            if (!graph) return;
            const room = graph.parentNode.clientWidth;
            graph.style.maxWidth = room >= Number(graph.getAttribute('width')) * 0.6 ? '100%' : 'none';
          }

          function render() {
            fitGraph();
            renderHead();
            renderGraph();
            Baton.renderTimeline(state, stageDefs, openAttempt);
            Baton.renderMemory(state);
            if (state.selected) renderPanel();
          }

          // ---------- Attempt panel

          // A stage opened by its node follows its newest attempt (a retry, the next round) as it starts.
          function openStage(name) {
            const list = attemptsOf(name);
            openAttempt(name, list.length ? list[list.length - 1].id : null, true);
          }

          function openAttempt(stage, id, follow) {
            state.selected = { stage: stage, attempt: id, follow: !!follow };
            state.showAll = false;
            permalink();
            const attempt = id === null ? null : state.attempts.get(id);
            if (attempt && ((!attempt.final && attempt.status !== 'running') || attempt.prompt === undefined)) fetchAttempt(id);
            // The panel takes a column: the timeline and the memory lane are drawn again at their new width.
            render();
          }

          // The open attempt in the URL, so it can be copied as a permalink.
          function permalink() {
            const query = new URLSearchParams({ stage: state.selected.stage });
            if (state.selected.attempt !== null) query.set('attempt', String(state.selected.attempt));
            history.replaceState(null, '', location.pathname + '?' + query);
          }

          function renderPanel() {
            const panel = document.getElementById('attempt-panel');
            const { stage, attempt: id } = state.selected;
            const attempt = id === null ? null : state.attempts.get(id);
            panel.hidden = false;
            panel.setAttribute('data-stage', stage);
            panel.setAttribute('data-attempt-id', id === null ? '' : String(id));
            const title = document.getElementById('attempt-title');
            title.textContent = stage + (attempt ? ' · ' + Baton.attemptLabel(attempt) : ' · no attempt yet');
            const meta = document.getElementById('attempt-meta');
            meta.replaceChildren(Baton.attemptTabs(attemptsOf(stage), id, (next) => openAttempt(stage, next)),
              Baton.attemptMeta(attempt, stageDefs.get(stage), state.fallbacks.filter((f) => f.stage === stage), base));
            const systemBox = document.getElementById('attempt-system-box');
            systemBox.hidden = !(attempt && attempt.system);
            Baton.setText(document.getElementById('attempt-system'), (attempt && attempt.system) || '');
            Baton.setText(document.getElementById('attempt-prompt'), attempt ? (attempt.prompt || '') : (stageDefs.get(stage) || {}).prompt || '');
            renderOutput();
          }

          // The output, or its last 200 KB: a 5 MB text in one <pre> would make every update lay out 5 MB.
          function renderOutput() {
            if (!state.selected) return;
            const attempt = state.selected.attempt === null ? null : state.attempts.get(state.selected.attempt);
            const text = attempt ? attempt.output || '' : '';
            const pre = document.getElementById('attempt-output');
            const note = document.getElementById('output-note');
            const button = document.getElementById('output-show-all');
            const cut = !state.showAll && text.length > Baton.OUTPUT_LIMIT;
            const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
            Baton.setText(pre, cut ? text.slice(text.length - Baton.OUTPUT_LIMIT) : text);
            pre.classList.toggle('cut', cut);
            button.hidden = !cut;
            const streaming = attempt && attempt.status === 'running';
            note.textContent = (cut ? 'last 200 KB of ' + Baton.bytes(text.length) + ' · ' : '') + (streaming ? 'streaming…' : '');
            if (streaming && stick) pre.scrollTop = pre.scrollHeight;
          }

          // ---------- Actions

          function setupActions() {
            const select = document.getElementById('rerun-stage');
            const result = document.getElementById('action-result');
            if (select) {
              select.addEventListener('change', () => {
                const command = document.querySelector('[data-action=rerun] ~ .equivalent-command');
                command.textContent = 'baton rerun ' + runID + ' --from ' + select.value;
              });
            }
            for (const button of document.querySelectorAll('button[data-action]')) {
              button.addEventListener('click', async () => {
                const action = button.getAttribute('data-action');
                const body = action === 'rerun' ? { from: select.value } : {};
                button.disabled = true;
                result.hidden = false;
                result.classList.remove('error');
                result.textContent = action + '…';
                try {
                  const response = await fetch(base + '/' + action, {
                    method: 'POST', credentials: 'same-origin', body: JSON.stringify(body),
                    headers: { 'X-Baton-Request': '1', 'Content-Type': 'application/json', Accept: 'application/json' },
                  });
                  const data = await response.json().catch(() => ({}));
                  if (!response.ok) throw new Error(data.error || response.status + ' ' + response.statusText);
                  result.textContent = 'started: ' + (data.command || action) + (data.pid ? ' (pid ' + data.pid + ')' : '');
                  const command = button.parentNode.querySelector('.equivalent-command');
                  if (command && data.command) command.textContent = data.command;
                } catch (error) {
                  result.textContent = action + ' refused: ' + error.message;
                  result.classList.add('error');
                } finally {
                  button.disabled = false;
                }
              });
            }
          }

          // ---------- Start

          function follow() {
            const source = new EventSource(base + '/events?after=' + state.lastEventID);
            source.onmessage = (message) => {
              let event;
              try { event = JSON.parse(message.data); } catch (error) { return; }
              apply(event);
            };
            source.addEventListener('end', (message) => {
              source.close();
              state.ended = true;
              try {
                const data = JSON.parse(message.data);
                if (data.status) state.run.status = data.status;
              } catch (error) { /* the status from the events stands */ }
              Baton.streamState('finished');
              queueRender();
            });
            source.onopen = () => Baton.streamState('live');
            source.onerror = () => { if (!state.ended) Baton.streamState('reconnecting…', true); };
          }

          async function start() {
            let doc;
            try {
              doc = await Baton.getJSON(base);
            } catch (error) {
              Baton.streamState('cannot load the run: ' + error.message, true);
              return;
            }
            state.run = doc.run || {};
            state.plan = doc.plan || { stages: [] };
            state.profile = doc.profile || null;
            state.budget = doc.budget_bytes === null || doc.budget_bytes === undefined ? null : Number(doc.budget_bytes);
            state.inputs = doc.inputs || {};
            for (const stage of state.plan.stages || []) stageDefs.set(stage.name, stage);
            for (const attempt of doc.attempts || []) merge(attempt.id, attempt, true);
            for (const event of doc.events || []) apply(event);
            if ((doc.last_event_id || 0) > state.lastEventID) state.lastEventID = doc.last_event_id;
            renderInputs();
            render();
            const params = new URLSearchParams(location.search);
            const stage = params.get('stage');
            if (stage) {
              const id = params.get('attempt');
              if (id && state.attempts.has(Number(id))) openAttempt(stage, Number(id));
              else openStage(stage);
            }
            follow();
          }

          for (const node of document.querySelectorAll('#graph g.stage')) {
            node.addEventListener('click', () => openStage(node.getAttribute('data-stage')));
            node.addEventListener('keydown', (event) => { if (event.key === 'Enter') openStage(node.getAttribute('data-stage')); });
          }
          document.getElementById('output-show-all').addEventListener('click', () => { state.showAll = true; renderOutput(); });
          setupActions();
          window.addEventListener('resize', queueRender);
          setInterval(() => { if (state.run.status === 'running') queueRender(); }, 1000);
          start();
        };
        """#
}
