// Vary (Region)'s editor. The member paints the part of the picture to redraw with a brush, a rectangle
// or a lasso (erase, undo and clear too); Submit sends the mask, at the picture's own size, white where
// painted and black elsewhere, with the prompt. Pointer events: a mouse, a pen and a finger all paint.
"use strict";

(function () {
  const main = document.getElementById("editor");
  const canvas = document.getElementById("paint");
  const ctx = canvas.getContext("2d");
  const size = document.getElementById("size");
  const status = document.getElementById("status");
  const submit = document.getElementById("submit");
  const form = document.getElementById("form");
  const prompt = document.getElementById("prompt");
  const width = Number(main.dataset.width);
  const height = Number(main.dataset.height);
  const PAINT = "#ff2e88"; // what the member sees; the mask itself is black and white
  const ops = []; // every stroke and shape, replayed after an undo
  let tool = "brush";
  let current = null;

  for (const button of document.querySelectorAll(".tool")) {
    button.addEventListener("click", () => {
      tool = button.dataset.tool;
      for (const other of document.querySelectorAll(".tool")) {
        other.classList.toggle("active", other === button);
        other.setAttribute("aria-pressed", String(other === button));
      }
    });
  }
  document.getElementById("undo").addEventListener("click", () => { ops.pop(); redraw(); });
  document.getElementById("clear").addEventListener("click", () => { ops.length = 0; redraw(); });

  // From the pointer's place on the scaled canvas to the picture's own pixels.
  function point(event) {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * width / box.width, (event.clientY - box.top) * height / box.height];
  }

  function brushScale() {
    // The size is in screen pixels, so a brush feels the same on a phone and a desktop.
    const box = canvas.getBoundingClientRect();
    return Number(size.value) * width / Math.max(1, box.width);
  }

  function draw(op) {
    ctx.save();
    ctx.globalCompositeOperation = op.erase ? "destination-out" : "source-over";
    ctx.fillStyle = ctx.strokeStyle = PAINT;
    ctx.lineCap = ctx.lineJoin = "round";
    const p = op.points;
    if (op.kind === "stroke") {
      ctx.lineWidth = op.width;
      ctx.beginPath();
      ctx.moveTo(p[0][0], p[0][1]);
      for (const [x, y] of p.slice(1)) ctx.lineTo(x, y);
      if (p.length === 1) ctx.lineTo(p[0][0] + 0.01, p[0][1]);
      ctx.stroke();
    } else if (op.kind === "rect" && p.length > 1) {
      const [a, b] = [p[0], p[p.length - 1]];
      ctx.fillRect(Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1]));
    } else if (op.kind === "lasso" && p.length > 2) {
      ctx.beginPath();
      ctx.moveTo(p[0][0], p[0][1]);
      for (const [x, y] of p.slice(1)) ctx.lineTo(x, y);
      ctx.closePath();
      ctx.fill();
    }
    ctx.restore();
  }

  function redraw() {
    ctx.clearRect(0, 0, width, height);
    for (const op of ops) draw(op);
    if (current) draw(current);
  }

  canvas.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    const kind = tool === "brush" || tool === "erase" ? "stroke" : tool;
    current = { kind, erase: tool === "erase", width: brushScale(), points: [point(event)] };
    redraw();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!current) return;
    const p = point(event);
    if (current.kind === "rect") current.points = [current.points[0], p];
    else current.points.push(p);
    redraw();
  });
  function finish() {
    if (!current) return;
    ops.push(current);
    current = null;
    redraw();
  }
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);

  // The mask as the bot takes it: the picture's size, white where painted, black elsewhere.
  function mask() {
    const painted = ctx.getImageData(0, 0, width, height).data;
    const out = document.createElement("canvas");
    out.width = width;
    out.height = height;
    const octx = out.getContext("2d");
    const image = octx.createImageData(width, height);
    let any = false;
    for (let i = 0; i < painted.length; i += 4) {
      const v = painted[i + 3] >= 128 ? 255 : 0;
      any = any || v === 255;
      image.data[i] = image.data[i + 1] = image.data[i + 2] = v;
      image.data[i + 3] = 255;
    }
    octx.putImageData(image, 0, 0);
    return any ? out.toDataURL("image/png") : null;
  }

  function say(text, error, link) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(error));
    if (link) {
      const a = document.createElement("a");
      a.href = link;
      a.rel = "noreferrer";
      a.textContent = main.dataset.openJob;
      status.append(" ", a);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = mask();
    if (!data) { say(main.dataset.paintFirst, true); return; }
    submit.disabled = true;
    say(main.dataset.sending, false);
    try {
      const response = await fetch(location.pathname, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ prompt: prompt.value, mask: data }),
        credentials: "same-origin",
      });
      const answer = await response.json();
      say(answer.text, !answer.ok, answer.link);
      // Made: the link is used up. Refused: everything stays as it was, to change and send again.
      submit.disabled = Boolean(answer.ok);
      if (answer.ok) main.dataset.done = "1";
    } catch (error) {
      say(main.dataset.network, true);
      submit.disabled = false;
    }
  });
})();
