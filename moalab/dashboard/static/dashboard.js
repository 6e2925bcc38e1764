/* moalab dashboard: what htmx does not do on the page.
 *
 * htmx's SSE extension swaps the server's HTML fragments (tree, devices, records, status,
 * sessions) itself. This script draws the `plot` events' JSON with uPlot in #plot-analog
 * and #plot-outcomes (the data replaced at each event, never appended), keeps the `stamp`
 * events in window.moalabSeen (the last 1000, each with the page's receive time
 * client_ms, for the browser test's latency figure), and marks the page (a run's, or
 * the rig's, which has no plots) data-live="stale" on <body>, with a visible notice,
 * when no event came for 10 s. No build step: plain ES2017, loaded after htmx (and
 * uPlot on a run's page).
 */
(function () {
  "use strict";

  // a quiet stream sends a `heartbeat` event every 5 s: 10 s without any event means
  // the feed has stopped
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
  const charts = new Map();  // "outcomes", "analog:<device.prop>" -> {plot, shape, element}

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

  // a y axis as wide as its longest label (uPlot's fixed 50 px cuts 65,536 short)
  const Y_AXIS = {size: function (u, values) {
    return values ? Math.max.apply(null, values.map(function (v) { return v.length; })) * 8 + 16
      : 50;
  }};

  /* Draw `data` (uPlot's columns) in `element`, its chart kept under `key`: a new
   * chart only when `shape` (the series' names) changes, else the old one's data is
   * replaced. */
  function draw(key, element, shape, makeOptions, data) {
    let chart = charts.get(key);
    if (chart && (chart.shape !== shape || !element.contains(chart.plot.root))) {
      chart.plot.destroy();
      chart = null;
    }
    if (chart) {
      chart.plot.setData(data);
      return;
    }
    element.textContent = "";
    const options = makeOptions();
    options.width = widthOf(element);
    options.height = PLOT_HEIGHT;
    charts.set(key, {plot: new uPlot(options, data, element), shape: shape, element: element});
  }

  /* Forget the charts whose keys start with `prefix`; show `text` in `element`. */
  function clear(prefix, element, text) {
    charts.forEach(function (chart, key) {
      if (key.startsWith(prefix)) {
        chart.plot.destroy();
        charts.delete(key);
      }
    });
    if (text !== undefined && element.textContent !== text) {
      element.textContent = text;
    }
  }

  /* One chart per device property (its own y axis: raw counts and volts differ), in
   * #plot-analog: per channel a band between its bins' min and max (a line where they
   * meet); channels with other bins are aligned by uPlot.join. */
  function drawAnalog(analog) {
    const container = document.getElementById("plot-analog");
    if (!container) {
      return;
    }
    const groups = new Map();  // "device.prop" -> its traces' keys ("device.prop[ch]")
    Object.keys(analog || {}).sort().forEach(function (key) {
      const name = key.replace(/\[\d+\]$/, "");
      groups.set(name, (groups.get(name) || []).concat([key]));
    });
    const names = Array.from(groups.keys());
    if (!names.length) {
      clear("analog:", container, "No analog values yet.");
      return;
    }
    const layout = names.join("\n");
    if (container.dataset.layout !== layout) {
      clear("analog:", container, "");
      names.forEach(function (name) {
        const element = document.createElement("div");
        element.className = "plot-trace";
        container.append(element);
      });
      container.dataset.layout = layout;
    }
    names.forEach(function (name, n) {
      const keys = groups.get(name);
      const tables = keys.map(function (key) {
        return [analog[key].t, analog[key].max, analog[key].min];
      });
      const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
      draw("analog:" + name, container.children[n], keys.join("\n"), function () {
        const series = [{label: "s"}];
        const bands = [];
        keys.forEach(function (key, i) {
          series.push({label: key.slice(name.length), stroke: color(i), width: 1,
                       spanGaps: true});
          series.push({label: "min", stroke: color(i), width: 1, spanGaps: true});
          bands.push({series: [series.length - 2, series.length - 1], fill: color(i, "33")});
        });
        return {
          title: name + " (min and max per bin)",
          scales: {x: {time: false}},
          axes: [{label: "s from the start"}, Y_AXIS],
          series: series,
          bands: bands,
          // a channel's band is one legend entry: its min line's is hidden
          hooks: {init: [function (u) {
            u.root.querySelectorAll(".u-legend .u-series").forEach(function (row, i) {
              row.hidden = i > 0 && i % 2 === 0;
            });
          }]},
        };
      }, data);
    });
  }

  /* Trials (bars) and rewards (a line) per minute of the run, in #plot-outcomes. */
  function drawOutcomes(outcomes) {
    const element = document.getElementById("plot-outcomes");
    if (!element) {
      return;
    }
    if (!outcomes || !outcomes.t || !outcomes.t.length) {
      clear("outcomes", element, "No trials ended yet.");
      return;
    }
    const minutes = outcomes.t.map(function (t) { return t / 60; });
    draw("outcomes", element, "outcomes", function () {
      return {
        title: "Trials and rewards per minute",
        // half a minute either side of the data, so the first and last bars are whole
        // (uPlot's own min and max are padded to 0..100 for a single minute)
        scales: {x: {time: false, range: function (u) {
          const t = u.data[0];
          return [t[0] - 0.5, t[t.length - 1] + 0.5];
        }}},
        axes: [{label: "minute of the run"}, Y_AXIS],
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
    charts.forEach(function (chart) {
      chart.plot.setSize({width: widthOf(chart.element), height: PLOT_HEIGHT});
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
    const handlers = [["plot", onPlot], ["stamp", onStamp], ["heartbeat", function () {}]];
    handlers.forEach(function (pair) {
      source.addEventListener(pair[0], function (event) {
        heard();
        pair[1](event);
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
