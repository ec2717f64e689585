/* The cockpit's charts (Apache ECharts, vendored in static/vendor/echarts/).
 *
 * The page sends `style-src 'self'`: ECharts' default HTML tooltips write inline style
 * attributes, so every tooltip here uses renderMode "richText" (drawn on the canvas). A click
 * on a bar, a funnel step or a Sankey link opens the cases behind it (the URL travels with
 * the data point); the table beside each chart has the same numbers and links.
 */
(function () {
  "use strict";
  var el = document.getElementById("analytics-charts");
  if (!el || typeof echarts === "undefined") { return; }
  var specs = JSON.parse(el.textContent);
  var english = document.documentElement.lang === "en";
  var saveTitle = english ? "Save as image" : "保存为图片";
  var palette = ["#2f6db5", "#e08a2c", "#3c9a5f", "#c0392b", "#7d5ba6", "#5b7b8c", "#b5892f"];

  function base() {
    return {
      color: palette,
      textStyle: { fontFamily: "Noto Sans CJK SC, sans-serif" },
      tooltip: { renderMode: "richText", confine: true },
      toolbox: { right: 8, feature: { saveAsImage: { title: saveTitle, pixelRatio: 2 } } },
      grid: { left: 56, right: 24, top: 48, bottom: 64 },
    };
  }

  function bar(spec) {
    var o = base();
    o.tooltip.trigger = "axis";
    o.legend = { top: 4, left: "center" };
    o.xAxis = { type: "category", data: spec.categories, axisLabel: { interval: 0, rotate: 30 } };
    o.yAxis = { type: "value", name: spec.unit, max: spec.max };
    o.series = spec.series.map(function (s) {
      return { type: "bar", name: s.name, stack: spec.stack ? "all" : undefined, data: s.data, emphasis: { focus: "series" } };
    });
    return o;
  }

  function sankey(spec) {
    var o = base();
    o.tooltip.trigger = "item";
    o.series = [{
      type: "sankey",
      left: 8, right: 140, top: 36, bottom: 8,
      nodeGap: 10,
      emphasis: { focus: "adjacency" },
      data: spec.nodes,
      links: spec.links.map(function (l) {
        return { source: l.source, target: l.target, value: l.value, url: l.url,
                 lineStyle: l.rework ? { color: "#c0392b", opacity: 0.45 } : { color: "gradient", opacity: 0.35 } };
      }),
      label: { fontSize: 12 },
    }];
    return o;
  }

  function funnel(spec) {
    var o = base();
    o.tooltip.trigger = "item";
    o.tooltip.formatter = "{b}: {c}";
    o.series = [{ type: "funnel", sort: "none", left: 8, right: 8, top: 40, bottom: 8, minSize: "8%",
                  label: { position: "inside", formatter: "{b} {c}" }, data: spec.data }];
    return o;
  }

  specs.forEach(function (spec) {
    var node = document.getElementById("chart-" + spec.id);
    if (!node) { return; }
    var chart = echarts.init(node, null, { locale: english ? "EN" : "ZH", renderer: "canvas" });
    var option = spec.kind === "sankey" ? sankey(spec) : spec.kind === "funnel" ? funnel(spec) : bar(spec);
    chart.setOption(option);
    chart.on("click", function (params) {
      var url = params.data && params.data.url;
      if (url) { window.location.assign(url); }
    });
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();
