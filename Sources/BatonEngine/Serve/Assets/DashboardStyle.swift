extension DashboardAssets {
    /// The stylesheet: a light theme in the system font, status colours (running blue, completed green, failed red,
    /// skipped grey, interrupted amber), monospace for prompts and outputs.
    public static let style = #"""
        :root {
          --fg: #1d2330; --muted: #667085; --line: #e3e6ec; --bg: #f6f7f9; --card: #fff; --accent: #2c5fd6;
          --running: #2f6fe4; --completed: #1f9d55; --failed: #d33a2c; --skipped: #9aa1ad; --interrupted: #d98b0b; --pending: #c4c9d2;
          --load: #a78bfa; --prompt: #f2b84b; --generate: #3b82f6;
          --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
        }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
          color: var(--fg); background: var(--bg); }
        a { color: var(--accent); text-decoration: none; }
        a:hover { text-decoration: underline; }
        h1 { font-size: 20px; margin: 0 0 8px; font-weight: 600; }
        h2 { font-size: 13px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
        h3 { font-size: 13px; margin: 12px 0 4px; }
        pre, code, .mono { font-family: var(--mono); font-size: 12px; }
        [hidden] { display: none !important; }

        header.top { display: flex; align-items: center; gap: 24px; padding: 10px 20px; background: #1d2330; }
        header.top .brand { color: #fff; font-weight: 700; letter-spacing: .02em; }
        header.top nav a { color: #c9d2e3; margin-right: 16px; }
        main { padding: 16px 20px; max-width: 1600px; margin: 0 auto; }
        .panel { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin-bottom: 14px; }
        .note { color: var(--muted); font-size: 12px; font-weight: normal; }
        .error { color: var(--failed); }
        .empty { color: var(--muted); }

        /* Status pills and colours */
        span.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
          background: var(--pending); color: #fff; vertical-align: middle; }
        span.status[data-status=running] { background: var(--running); }
        span.status[data-status=completed] { background: var(--completed); }
        span.status[data-status=failed] { background: var(--failed); }
        span.status[data-status=skipped] { background: var(--skipped); }
        span.status[data-status=interrupted] { background: var(--interrupted); }
        #stream-state { color: var(--muted); margin-left: 6px; }
        #stream-state.bad { color: var(--interrupted); }

        /* Runs list */
        .toolbar { display: flex; align-items: center; gap: 18px; margin-bottom: 12px; }
        .toolbar h1 { margin: 0 12px 0 0; }
        .toolbar label { color: var(--muted); font-size: 13px; }
        select, input, button { font: inherit; font-size: 13px; }
        select, input { padding: 4px 6px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
        button { padding: 4px 12px; border: 1px solid #b8c2d6; border-radius: 6px; background: #fff; cursor: pointer; }
        button:hover { border-color: var(--accent); }
        table { border-collapse: collapse; width: 100%; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
        th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { font-size: 12px; color: var(--muted); font-weight: 600; background: #fafbfc; }
        #runs td { vertical-align: middle; }
        #runs td.id { font-family: var(--mono); font-size: 12px; }
        #runs td.duration, #runs td.tokens { font-variant-numeric: tabular-nums; white-space: nowrap; }
        #runs td.stage { color: var(--running); }
        #runs tr.run-row:hover { background: #f3f6fc; }

        /* Run page */
        .run-head h1 { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
        .run-id { font-family: var(--mono); font-size: 14px; color: var(--muted); font-weight: normal; }
        #run-facts { display: flex; flex-wrap: wrap; gap: 6px 28px; margin: 0 0 8px; }
        #run-facts dt { font-size: 11px; color: var(--muted); text-transform: uppercase; }
        #run-facts dd { margin: 0; font-variant-numeric: tabular-nums; }
        #run-inputs-box { margin-bottom: 12px; }
        #run-inputs { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0; }
        #run-inputs dt { font-weight: 600; }
        #run-inputs dd { margin: 0; white-space: pre-wrap; font-family: var(--mono); font-size: 12px; max-height: 6em; overflow: auto; }
        .run-grid { display: grid; grid-template-columns: minmax(0, 1fr) minmax(340px, 38%); gap: 14px; align-items: start; }
        .run-grid:has(> #attempt-panel[hidden]) { grid-template-columns: minmax(0, 1fr); }
        .actions { display: flex; flex-wrap: wrap; gap: 10px 24px; align-items: center; }
        .actions .action { display: flex; gap: 8px; align-items: center; }
        .equivalent-command { background: #f1f3f7; padding: 2px 6px; border-radius: 4px; color: #344054; }

        /* Stage graph */
        .graph-scroll { overflow: auto; max-height: 480px; }
        #graph { display: block; max-width: 100%; height: auto; }
        #graph .stage { cursor: pointer; }
        #graph .stage .box { fill: #fff; stroke: var(--pending); stroke-width: 2; }
        #graph .stage.conditional .box { stroke-dasharray: 5 4; }
        #graph .stage.critic .box { rx: 18; }
        #graph .stage.fan-out .box { stroke-width: 4; }
        #graph .stage.router .box { fill: #fbfaff; }
        #graph .stage .name { font-weight: 600; font-size: 13px; fill: var(--fg); }
        #graph .stage .line { font-size: 11px; fill: var(--muted); }
        #graph .stage .items { font-size: 11px; fill: var(--muted); text-anchor: end; }
        #graph .stage[data-status=running] .box { stroke: var(--running); fill: #eef4ff; }
        #graph .stage[data-status=completed] .box { stroke: var(--completed); fill: #effaf3; }
        #graph .stage[data-status=failed] .box { stroke: var(--failed); fill: #fdf0ef; }
        #graph .stage[data-status=skipped] .box { stroke: var(--skipped); fill: #f3f4f6; }
        #graph .stage[data-status=skipped] text { fill: var(--skipped); }
        #graph .stage[data-status=interrupted] .box { stroke: var(--interrupted); fill: #fff7e8; }
        #graph .stage.selected .box { stroke-width: 4; }
        #graph .stage:focus { outline: none; }
        #graph .edge { fill: none; stroke: #98a2b3; stroke-width: 1.5; }
        #graph .edge.revise { stroke-dasharray: 4 4; stroke: #b08968; }
        #graph .edge.list { stroke-width: 3; }
        #graph .arrow-head { fill: #98a2b3; }
        #graph .edge-label { font-size: 11px; fill: #475467; text-anchor: middle; paint-order: stroke; stroke: #fff; stroke-width: 4px; }

        /* Timeline and memory lane share the label column, so their time axes line up */
        #timeline { max-height: 360px; overflow: auto; }
        .tl-row { display: grid; grid-template-columns: 150px minmax(0, 1fr); align-items: center; min-height: 22px; }
        .tl-label { font-size: 12px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; padding-right: 8px; color: #344054; }
        .tl-track { position: relative; height: 20px; border-left: 1px solid var(--line); }
        .tl-scale .tl-label { color: var(--muted); }
        .tl-scale .tl-track { height: 16px; }
        .tl-gap { position: absolute; top: 0; font-size: 10px; color: var(--muted); white-space: nowrap; border-left: 1px dashed #98a2b3;
          padding-left: 2px; }
        .attempt-bar { position: absolute; top: 3px; height: 14px; min-width: 3px; display: flex; border-radius: 3px; overflow: hidden;
          cursor: pointer; background: var(--pending); outline: 1px solid transparent; }
        .attempt-bar .seg { height: 100%; flex: none; }
        .attempt-bar .seg-load { background: var(--load); }
        .attempt-bar .seg-prompt { background: var(--prompt); }
        .attempt-bar .seg-generate { background: var(--generate); }
        .attempt-bar[data-status=completed] .seg-generate, .attempt-bar[data-status=completed] { background: var(--completed); }
        .attempt-bar[data-status=failed] { outline-color: var(--failed); }
        .attempt-bar[data-status=failed] .seg-generate { background: var(--failed); }
        .attempt-bar[data-status=interrupted], .attempt-bar[data-status=aborted] { outline-color: var(--interrupted); }
        .attempt-bar[data-status=superseded] { opacity: .4; }
        .attempt-bar.selected { outline: 2px solid var(--fg); }
        .attempt-bar .bar-label { position: absolute; left: 4px; top: -1px; font-size: 10px; color: #fff; white-space: nowrap;
          text-shadow: 0 0 2px #000; pointer-events: none; }
        .mem-row .tl-track { height: auto; }
        .mem-row .tl-label { color: var(--muted); }
        .mem-svg { display: block; max-width: 100%; }
        .mem-budget line { stroke: var(--failed); stroke-width: 1.5; stroke-dasharray: 6 4; }
        .mem-block rect { fill: #c7d7fe; stroke: #fff; stroke-width: 1; }
        .mem-block[data-color="1"] rect { fill: #b9e6cf; }
        .mem-block[data-color="2"] rect { fill: #fde4b8; }
        .mem-block[data-color="3"] rect { fill: #e9d5ff; }
        .mem-block[data-color="4"] rect { fill: #fecdd3; }
        .mem-block[data-color="5"] rect { fill: #bae6fd; }
        .mem-block.unknown rect { fill-opacity: .55; stroke: #98a2b3; stroke-dasharray: 3 3; }
        .mem-block text { font-size: 10px; fill: #344054; pointer-events: none; }
        .mem-event path { fill: var(--muted); }
        .mem-event[data-kind=load] path { fill: var(--completed); }
        .mem-event[data-kind=unload] path { fill: var(--interrupted); }

        /* Attempt panel */
        #attempt-panel { position: sticky; top: 10px; max-height: calc(100vh - 20px); overflow: auto; }
        #attempt-title { text-transform: none; letter-spacing: 0; font-size: 15px; color: var(--fg); }
        .attempt-tabs { display: flex; flex-wrap: wrap; gap: 4px; margin-bottom: 8px; }
        .attempt-tabs .tab { font-size: 11px; padding: 1px 8px; border-left: 4px solid var(--pending); }
        .attempt-tabs .tab[data-status=completed] { border-left-color: var(--completed); }
        .attempt-tabs .tab[data-status=failed] { border-left-color: var(--failed); }
        .attempt-tabs .tab[data-status=running] { border-left-color: var(--running); }
        .attempt-tabs .tab.selected { background: #eef4ff; border-color: var(--accent); }
        dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 3px 12px; margin: 0; font-size: 13px; }
        dl.meta dt { color: var(--muted); }
        dl.meta dd { margin: 0; overflow-wrap: anywhere; }
        pre.text { white-space: pre-wrap; overflow-wrap: anywhere; background: #f8f9fb; border: 1px solid var(--line); border-radius: 6px;
          padding: 8px; margin: 0; max-height: 320px; overflow: auto; }
        #attempt-output { max-height: 360px; }
        #attempt-prompt { max-height: 240px; }
        pre.text .block { display: block; content-visibility: auto; contain-intrinsic-size: auto 600px; }

        /* Compare */
        #compare-form { display: flex; gap: 14px; align-items: center; margin: 14px 0; }
        #compare td.stage { font-weight: 600; }
        #compare td.model { font-family: var(--mono); font-size: 12px; }
        #compare td.changes ul { margin: 0; padding-left: 16px; }
        #compare .changed { background: #fff4d6; }
        #compare td.model.changed, #compare .badge.changed { border-radius: 4px; }
        #compare li.effect { color: var(--muted); }
        #compare li.same { color: var(--skipped); list-style: none; margin-left: -16px; }
        #compare tr.stage-row[data-changed=true] td.stage { box-shadow: inset 4px 0 0 var(--interrupted); }
        .badge { font-size: 11px; font-weight: normal; padding: 0 6px; margin-left: 6px; }
        ins { background: #dcfce7; text-decoration: none; }
        del { background: #fee2e2; }
        pre.diff { white-space: pre-wrap; overflow-wrap: anywhere; max-height: 360px; overflow: auto; background: #f8f9fb; padding: 6px;
          margin: 4px 0; border-radius: 6px; }
        pre.diff .fold { color: var(--muted); font-style: italic; }
        .diff-box summary { cursor: pointer; font-size: 12px; color: var(--accent); }
        .legend { float: right; text-transform: none; letter-spacing: 0; font-weight: normal; }
        .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 4px 0 12px; vertical-align: -1px; }
        .legend .legend-load { background: var(--load); }
        .legend .legend-prompt { background: var(--prompt); }
        .legend .legend-generate { background: var(--generate); }
        .legend .legend-done { background: var(--completed); }
        """#
}
