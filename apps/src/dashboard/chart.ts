// One metric over the range's buckets as an SVG bar chart, with its scale and each bar's figure as a tooltip.
import { type Bucket, type Metric, figure } from "./stats";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 320;
const HEIGHT = 120;
const LEFT = 34;
const BOTTOM = 16;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

export function barChart(metric: Metric, series: Bucket[], hourly: boolean): HTMLElement {
  const values = series.map((bucket) => metric.of(bucket.hours));
  const top = Math.max(1, ...values.map((value) => value ?? 0));
  const box = document.createElement("figure");
  box.className = "chart";
  box.dataset.metric = metric.key;
  const title = document.createElement("h4");
  title.textContent = metric.title;
  box.append(title);
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": `${metric.title} per ${hourly ? "hour" : "day"}` });
  const plotWidth = WIDTH - LEFT;
  const plotHeight = HEIGHT - BOTTOM;
  chart.append(svg("line", { class: "axis", x1: LEFT, y1: plotHeight, x2: WIDTH, y2: plotHeight }));
  const scale = svg("text", { x: 0, y: 10 });
  scale.textContent = figure(top, metric.unit);
  chart.append(scale);
  const step = plotWidth / Math.max(1, series.length);
  series.forEach((bucket, index) => {
    const value = values[index];
    if (value === null || value === 0) return;
    const height = (value / top) * (plotHeight - 4);
    const bar = svg("rect", {
      class: "bar",
      x: LEFT + index * step + step * 0.1,
      y: plotHeight - height,
      width: Math.max(1, step * 0.8),
      height,
      "data-value": value,
    });
    const tooltip = svg("title", {});
    tooltip.textContent = `${bucket.start.toISOString().slice(0, hourly ? 13 : 10).replace("T", " ")}${hourly ? ":00" : ""}: ${figure(value, metric.unit)}`;
    bar.append(tooltip);
    chart.append(bar);
  });
  for (const [index, anchor] of [[0, "start"], [series.length - 1, "end"]] as const) {
    if (!series[index]) continue;
    const label = svg("text", { x: index === 0 ? LEFT : WIDTH, y: HEIGHT - 2, "text-anchor": anchor });
    label.textContent = series[index].start.toISOString().slice(hourly ? 11 : 5, hourly ? 16 : 10);
    chart.append(label);
  }
  box.append(chart);
  return box;
}
