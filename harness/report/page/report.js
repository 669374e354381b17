// The comparison report's gallery: sorting, filtering and the larger view, from the JSON in the page.
// Plain DOM code, no library and no request: the file works offline and inside MLflow's artifact view.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const points = data.points;
  const columns = data.columns;
  const higher = Object.fromEntries(columns.map((c) => [c.name, c.higher]));
  const state = { sort: "id", reverse: false, diffA: "", diffB: "", diffCol: "", split: "", category: "",
                  status: "" };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const child of children) if (child) node.appendChild(child);
    return node;
  }

  function select(id, label, options, onChange) {
    const box = el("select", { id: id });
    for (const [value, text] of options) box.appendChild(el("option", { value: value, text: text }));
    box.addEventListener("change", () => { onChange(box.value); draw(); });
    return el("label", {}, document.createTextNode(label + " "), box);
  }

  // ----- ordering and filters ---------------------------------------------------------------------
  function score(point, imageId, column) {
    const cell = point.cells[imageId];
    return cell && cell.scores[column] !== undefined ? cell.scores[column] : null;
  }

  function key(image) {
    if (state.sort === "diff") {
      const a = points[+state.diffA], b = points[+state.diffB];
      if (!a || !b || !state.diffCol) return null;
      const x = score(a, image.id, state.diffCol), y = score(b, image.id, state.diffCol);
      if (x === null || y === null) return null;
      return higher[state.diffCol] === false ? y - x : x - y; // how much A beats B: largest first
    }
    if (state.sort === "id") return null;
    const [p, column] = state.sort.split("|");
    const value = score(points[+p], image.id, column);
    if (value === null) return null;
    return higher[column] === false ? -value : value; // best first
  }

  function visible(image) {
    if (state.split && !image.splits.includes(state.split)) return false;
    if (state.category && !image.categories.includes(state.category)) return false;
    if (state.status) {
      return points.some((p) => p.cells[image.id] && p.cells[image.id].status.startsWith(state.status));
    }
    return true;
  }

  function ordered() {
    const shown = data.images.filter(visible);
    if (state.sort === "id") {
      shown.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return state.reverse ? shown.reverse() : shown;
    }
    const keyed = shown.map((image) => [key(image), image]);
    keyed.sort((a, b) => {
      if (a[0] === null && b[0] === null) return a[1].id < b[1].id ? -1 : 1;
      if (a[0] === null) return 1; // images without the score go last, whatever the direction
      if (b[0] === null) return -1;
      return state.reverse ? a[0] - b[0] : b[0] - a[0];
    });
    return keyed.map((pair) => pair[1]);
  }

  // ----- the table ----------------------------------------------------------------------------------
  function scoresLine(cell) {
    const shown = columns.filter((c) => !c.name.includes("_") && cell.scores[c.name] !== undefined).slice(0, 4);
    return shown.map((c) => c.name + " " + Number(cell.scores[c.name]).toPrecision(4)).join(" · ");
  }

  function outputCell(point, pIndex, image) {
    const cell = point.cells[image.id];
    if (!cell) return el("td", { class: "absent", text: "not in this point" });
    if (!cell.output) {
      const kind = cell.status.startsWith("excluded") ? "status excluded" : "status";
      return el("td", {}, el("div", { class: kind, text: cell.status + (cell.error ? ": " + cell.error : "") }));
    }
    const img = el("img", { src: cell.output, alt: point.label + " " + image.id, "data-point": String(pIndex) });
    img.addEventListener("click", () => openViewer(image, pIndex));
    const td = el("td", {}, img, el("div", { class: "scores", text: scoresLine(cell) }));
    if (cell.status !== "ok") td.appendChild(el("div", { class: "status", text: cell.status + ": " + cell.error }));
    return td;
  }

  function draw() {
    const grid = document.getElementById("grid");
    grid.replaceChildren();
    const head = el("tr", {}, el("th", { text: "image" }), el("th", { text: "gray input" }));
    points.forEach((p) => head.appendChild(el("th", { text: p.label })));
    head.appendChild(el("th", { text: "ground truth" }));
    grid.appendChild(el("thead", {}, head));
    const body = el("tbody", {});
    for (const image of ordered()) {
      const row = el("tr", { class: "row", "data-id": image.id });
      row.appendChild(el("td", { class: "id", text: image.id + (image.categories.length ? " (" +
        image.categories.join(", ") + ")" : "") }));
      row.appendChild(el("td", {}, image.gray ? el("img", { src: image.gray, alt: "gray " + image.id }) : null));
      points.forEach((p, i) => row.appendChild(outputCell(p, i, image)));
      row.appendChild(el("td", {}, image.truth ? el("img", { src: image.truth, alt: "truth " + image.id }) : null));
      body.appendChild(row);
    }
    grid.appendChild(body);
    document.getElementById("shown").textContent = body.children.length + " of " + data.images.length + " images";
  }

  function controls() {
    const box = document.getElementById("controls");
    const sorts = [["id", "image id"]];
    points.forEach((p, i) => columns.forEach((c) => sorts.push([i + "|" + c.name, p.label + ": " + c.name +
      (c.higher === false ? " (lowest first)" : c.higher ? " (highest first)" : "")])));
    sorts.push(["diff", "difference A − B (below)"]);
    box.appendChild(select("sort", "Sort by", sorts, (v) => { state.sort = v; }));
    const reverse = el("input", { type: "checkbox", id: "reverse" });
    reverse.addEventListener("change", () => { state.reverse = reverse.checked; draw(); });
    box.appendChild(el("label", {}, reverse, document.createTextNode(" reverse")));
    const pointOptions = points.map((p, i) => [String(i), p.label]);
    box.appendChild(select("diff-a", "A", [["", "—"], ...pointOptions], (v) => { state.diffA = v; }));
    box.appendChild(select("diff-b", "B", [["", "—"], ...pointOptions], (v) => { state.diffB = v; }));
    box.appendChild(select("diff-col", "on", [["", "—"], ...columns.map((c) => [c.name, c.name])],
      (v) => { state.diffCol = v; }));
    const splits = [...new Set(data.images.flatMap((i) => i.splits))].sort();
    if (splits.length) box.appendChild(select("split", "Split", [["", "all"], ...splits.map((s) => [s, s])],
      (v) => { state.split = v; }));
    const cats = [...new Set(data.images.flatMap((i) => i.categories))].sort();
    if (cats.length) box.appendChild(select("category", "Category", [["", "all"], ...cats.map((c) => [c, c])],
      (v) => { state.category = v; }));
    box.appendChild(select("status", "Status", [["", "any"], ["ok", "ok"], ["failed", "failed"],
      ["excluded", "excluded"]], (v) => { state.status = v; }));
    box.appendChild(el("span", { id: "shown" }));
  }

  // ----- the larger view: before/after slider and one zoom for every point ----------------------------
  function openViewer(image, pIndex) {
    const viewer = document.getElementById("viewer");
    viewer.replaceChildren();
    const point = points[pIndex];
    const close = el("button", { id: "close", text: "close (Esc)" });
    close.addEventListener("click", () => { viewer.hidden = true; });
    const slider = el("input", { type: "range", id: "slider", min: "0", max: "100", value: "50" });
    const zoom = el("input", { type: "range", id: "zoom", min: "1", max: "8", step: "0.5", value: "1" });
    viewer.appendChild(el("div", { class: "bar" }, close,
      el("span", { text: image.id + ": " + point.label + " (left) against the ground truth (right)" }),
      el("label", {}, document.createTextNode("split "), slider),
      el("label", {}, document.createTextNode("zoom "), zoom)));
    const bottom = el("img", { src: image.truth || "", alt: "truth", id: "slider-bottom" });
    const top = el("img", { src: point.cells[image.id].output, alt: point.label, id: "slider-top" });
    const setSplit = () => { top.style.clipPath = "inset(0 " + (100 - slider.value) + "% 0 0)"; };
    slider.addEventListener("input", setSplit);
    setSplit();
    viewer.appendChild(el("div", { class: "compare" }, bottom, top));
    const zooms = el("div", { class: "zooms" });
    const panels = points.map((p) => [p.label, p.cells[image.id] && p.cells[image.id].output])
      .concat([["ground truth", image.truth]]).filter((x) => x[1]);
    for (const [label, src] of panels) {
      const img = el("img", { src: src, alt: label, class: "zoomable" });
      zooms.appendChild(el("figure", {}, el("div", { class: "zoombox" }, img), el("figcaption", { text: label })));
    }
    const apply = (ox, oy) => {
      for (const img of zooms.querySelectorAll("img.zoomable")) {
        img.style.transform = "scale(" + zoom.value + ")";
        if (ox !== undefined) img.style.transformOrigin = ox + "% " + oy + "%";
      }
    };
    zoom.addEventListener("input", () => apply());
    zooms.addEventListener("mousemove", (event) => {
      const box = event.target.closest(".zoombox");
      if (!box) return;
      const r = box.getBoundingClientRect();
      apply(100 * (event.clientX - r.left) / r.width, 100 * (event.clientY - r.top) / r.height);
    });
    viewer.appendChild(zooms);
    viewer.hidden = false;
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") document.getElementById("viewer").hidden = true;
  });
  controls();
  draw();
})();
