// A small bar-chart helper: horizontal bars as SVG, built with DOM calls
// (no HTML strings, so names from the data are never markup).
"use strict";
const SVG = "http://www.w3.org/2000/svg";

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

// bars: [{label, value, text}], value in [0, max]; returns a <figure>.
function barChart(title, bars, options = {}) {
  const rowHeight = 22, labelWidth = options.labelWidth || 140, width = 420;
  const max = options.max || Math.max(1e-9, ...bars.map((b) => b.value));
  const svg = svgElement("svg", {
    width, height: rowHeight * bars.length + 4, role: "img", "aria-label": title,
  });
  bars.forEach((bar, i) => {
    const y = i * rowHeight + 2;
    const label = svgElement("text", { x: 0, y: y + 15, "font-size": 12 });
    label.textContent = bar.label;
    svg.appendChild(label);
    const length = Math.max(0, (width - labelWidth - 60) * (bar.value / max));
    const rect = svgElement("rect", {
      x: labelWidth, y, width: length, height: rowHeight - 6, fill: options.color || "#2271b1",
      "data-label": bar.label, "data-value": bar.value,
    });
    svg.appendChild(rect);
    const text = svgElement("text", { x: labelWidth + length + 4, y: y + 13, "font-size": 11 });
    text.textContent = bar.text;
    svg.appendChild(text);
  });
  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.appendChild(svg);
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.appendChild(caption);
  return figure;
}
