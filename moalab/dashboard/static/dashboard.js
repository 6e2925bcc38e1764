/* moalab dashboard: what htmx does not do on the page.
 *
 * htmx's SSE extension swaps the server's HTML fragments (tree, devices, records, status,
 * sessions) itself. This script draws the `plot` events' JSON with uPlot in #plot-analog
 * and #plot-outcomes (the data replaced at each event, never appended), keeps the `stamp`
 * events in window.moalabSeen (the last 1000, each with the page's receive time
 * client_ms, for the browser test's latency figure), and marks the page
 * data-live="stale" on <body>, with a visible notice, when no event came for 10 s.
 * No build step: plain ES2017, loaded after htmx and uPlot.
 */
(function () {
  "use strict";

  // the server sends a heartbeat every 5 s: two missed mean the feed has stopped
  // (window.moalabStaleAfterMs, set before this script runs, shortens it for tests)
  const STALE_AFTER_MS = window.moalabStaleAfterMs || 10000;
  const SEEN_LIMIT = 1000;
  const PLOT_HEIGHT = 220;
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];

  const seen = [];
  window.moalabSeen = seen;
  let lastEventMs = Date.now();
  const listened = new WeakSet();  // EventSources this script already listens to
  const charts = {};  // element id -> {plot, shape}: one uPlot per plot element

  // ------------------------------------------------------------------ live or stale

  function setLive(state) {
    if (document.body.dataset.live === state) {
      return;
    }
    document.body.dataset.live = state;
    let notice = document.getElementById("live-notice");
    if (state === "stale" && !notice) {
      notice = document.createElement("div");
      notice.id = "live-notice";
      notice.setAttribute("role", "alert");
      notice.textContent = "Live updates stopped: nothing came from the run for " +
        Math.round(STALE_AFTER_MS / 1000) + " s. What you see may be out of date; " +
        "reload the page, and if this stays, check that the run (or the rig's server) " +
        "is still going.";
      document.body.prepend(notice);
    }
    if (notice) {
      notice.hidden = state !== "stale";
    }
  }

  function heard() {
    lastEventMs = Date.now();
    setLive("live");
  }

  function checkLive() {
    if (Date.now() - lastEventMs > STALE_AFTER_MS) {
      setLive("stale");
    }
  }

  // ------------------------------------------------------------------------- plots

  function color(i, alpha) {
    return COLORS[i % COLORS.length] + (alpha || "");
  }

  function widthOf(element) {
    return Math.max(element.clientWidth, 200);
  }

  /* Draw `data` (uPlot's columns) in the element `id`; a new chart only when `shape`
   * (the series' names) changes, else the old one gets the new data. */
  function draw(id, shape, makeOptions, data) {
    const element = document.getElementById(id);
    if (!element) {
      return;
    }
    let chart = charts[id];
    if (chart && (chart.shape !== shape || !element.contains(chart.plot.root))) {
      chart.plot.destroy();
      chart = null;
    }
    if (!chart) {
      element.textContent = "";
      const options = makeOptions();
      options.width = widthOf(element);
      options.height = PLOT_HEIGHT;
      chart = charts[id] = {plot: new uPlot(options, data, element), shape: shape};
    } else {
      chart.plot.setData(data);
    }
  }

  function placeholder(id, text) {
    const element = document.getElementById(id);
    if (!element) {
      return;
    }
    if (charts[id]) {
      charts[id].plot.destroy();
      delete charts[id];
    }
    if (element.textContent !== text) {
      element.textContent = text;
    }
  }

  /* Analog traces: per channel a band between its bins' min and max (a line where
   * they meet); channels with other bins are aligned by uPlot.join. */
  function drawAnalog(analog) {
    const keys = Object.keys(analog || {}).sort();
    if (!keys.length) {
      placeholder("plot-analog", "No analog values yet.");
      return;
    }
    const tables = keys.map(function (key) {
      return [analog[key].t, analog[key].max, analog[key].min];
    });
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    draw("plot-analog", keys.join("\n"), function () {
      const series = [{label: "s from the start"}];
      const bands = [];
      keys.forEach(function (key, i) {
        series.push({label: key + " max", stroke: color(i), width: 1, spanGaps: true});
        series.push({label: key + " min", stroke: color(i), width: 1, spanGaps: true});
        bands.push({series: [series.length - 2, series.length - 1], fill: color(i, "33")});
      });
      return {
        title: "Analog values (min and max per bin)",
        scales: {x: {time: false}},
        axes: [{label: "s from the start"}, {}],
        series: series,
        bands: bands,
      };
    }, data);
  }

  /* Trials (bars) and rewards (a line) per minute of the run. */
  function drawOutcomes(outcomes) {
    if (!outcomes || !outcomes.t || !outcomes.t.length) {
      placeholder("plot-outcomes", "No trials ended yet.");
      return;
    }
    const minutes = outcomes.t.map(function (t) { return t / 60; });
    draw("plot-outcomes", "outcomes", function () {
      return {
        title: "Trials and rewards per minute",
        // half a minute either side, so the first and last bars are whole
        scales: {x: {time: false, range: function (u, min, max) {
          return [min - 0.5, max + 0.5];
        }}},
        axes: [{label: "minute of the run"}, {}],
        series: [
          {label: "minute"},
          {label: "trials", stroke: color(0), fill: color(0, "55"),
           paths: uPlot.paths.bars({size: [0.6, 60]})},
          {label: "rewards", stroke: color(2), width: 2, points: {show: true}},
        ],
      };
    }, [minutes, outcomes.trials, outcomes.rewards]);
  }

  function onPlot(event) {
    const plot = JSON.parse(event.data);
    drawAnalog(plot.analog);
    drawOutcomes(plot.outcomes);
  }

  function onStamp(event) {
    const stamp = JSON.parse(event.data);
    stamp.client_ms = Date.now();
    seen.push(stamp);
    if (seen.length > SEEN_LIMIT) {
      seen.splice(0, seen.length - SEEN_LIMIT);
    }
  }

  function resize() {
    Object.keys(charts).forEach(function (id) {
      const element = document.getElementById(id);
      if (element) {
        charts[id].plot.setSize({width: widthOf(element), height: PLOT_HEIGHT});
      }
    });
  }

  // ------------------------------------------------------------------------ wiring

  /* htmx raises htmx:sseMessage only for the events an element swaps (sse-swap), so
   * the JSON events are taken from the EventSource itself, once per source (htmx
   * makes a new one when it reconnects). */
  function listen(source) {
    if (listened.has(source)) {
      return;
    }
    listened.add(source);
    [["plot", onPlot], ["stamp", onStamp], ["heartbeat", null]].forEach(function (pair) {
      source.addEventListener(pair[0], function (event) {
        heard();
        if (pair[1]) {
          pair[1](event);
        }
      });
    });
  }

  document.addEventListener("htmx:sseOpen", function (event) {
    listen(event.detail.source);
  });
  document.addEventListener("htmx:sseMessage", heard);
  window.addEventListener("resize", resize);
  window.setInterval(checkLive, 1000);
})();
