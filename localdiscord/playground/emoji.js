// The emoji the bot writes (🔄 ✅ ❌ 🛡️ ⏳, the pan arrows, …) drawn as the page's own inline SVGs, so
// they show on a machine with no emoji font; each keeps its character as its accessible name and as
// hidden text, so reading, searching and copying the message still give the emoji itself.
//
// Pure drawing: text in, DOM nodes out; nothing here reads the store.

const NS = "http://www.w3.org/2000/svg";

// Palette of the drawings: Discord's own emoji set uses these blues, greens and reds.
const BLUE = "#3b88c3";
const GREEN = "#3ba55c";
const RED = "#dd2e44";
const AMBER = "#ffac33";
const GREY = "#8899a6";
const WHITE = "#ffffff";

// A key's square, as Discord draws 🔄, the arrows and the media keys.
const key = (...inner) => [["rect", { x: 2, y: 2, width: 20, height: 20, rx: 4, fill: BLUE }], ...inner];
const arrow = (d) => key(["path", { d, fill: "none", stroke: WHITE, "stroke-width": 2.6, "stroke-linecap": "round", "stroke-linejoin": "round" }]);
const hourglass = (sand) => [
  ["path", { d: "M6 3h12M6 21h12", stroke: "#664500", "stroke-width": 2, "stroke-linecap": "round" }],
  ["path", { d: "M7 3c0 5 4 6 5 9-1 3-5 4-5 9h10c0-5-4-6-5-9 1-3 5-4 5-9z", fill: "#ccd6dd", stroke: GREY, "stroke-width": 1 }],
  ["path", { d: sand, fill: AMBER }],
];

// The character (without its emoji-style selector U+FE0F) -> the shapes of its 24x24 drawing.
export const EMOJI = {
  "🔄": key(
    ["path", { d: "M7.5 10.5a5 5 0 0 1 8.6-2.6M16.5 13.5a5 5 0 0 1-8.6 2.6", fill: "none", stroke: WHITE, "stroke-width": 2.2, "stroke-linecap": "round" }],
    ["path", { d: "M17.5 5v4h-4zM6.5 19v-4h4z", fill: WHITE }],
  ),
  "✅": [
    ["rect", { x: 2, y: 2, width: 20, height: 20, rx: 4, fill: GREEN }],
    ["path", { d: "M6.5 12.5l3.5 3.5 7.5-8", fill: "none", stroke: WHITE, "stroke-width": 2.8, "stroke-linecap": "round", "stroke-linejoin": "round" }],
  ],
  "❌": [["path", { d: "M5 5l14 14M19 5L5 19", stroke: RED, "stroke-width": 4, "stroke-linecap": "round" }]],
  "🛡": [
    ["path", { d: "M12 2l8 3v6c0 5.5-3.6 9.4-8 11-4.4-1.6-8-5.5-8-11V5z", fill: GREY }],
    ["path", { d: "M12 4.2l6 2.3V11c0 4.3-2.7 7.4-6 8.8z", fill: "#ccd6dd" }],
  ],
  "⏳": hourglass("M9.5 19.5c.5-2 2-3 2.5-4.5.5 1.5 2 2.5 2.5 4.5zM9 6h6c-.5 1.5-2 2.5-3 3.5C11 8.5 9.5 7.5 9 6z"),
  "⌛": hourglass("M8.5 20c.6-2.6 2.5-4 3.5-6 1 2 2.9 3.4 3.5 6z"),
  "⬅": arrow("M17 12H7M11 7l-5 5 5 5"),
  "➡": arrow("M7 12h10M13 7l5 5-5 5"),
  "⬆": arrow("M12 17V7M7 11l5-5 5 5"),
  "⬇": arrow("M12 7v10M7 13l5 5 5-5"),
  "⚠": [
    ["path", { d: "M12 2.5L22.5 21h-21z", fill: AMBER, "stroke-linejoin": "round" }],
    ["path", { d: "M12 9v5.5", stroke: "#231f20", "stroke-width": 2.4, "stroke-linecap": "round" }],
    ["circle", { cx: 12, cy: 17.8, r: 1.3, fill: "#231f20" }],
  ],
  "🔍": [
    ["circle", { cx: 10, cy: 10, r: 6, fill: "#bbddf5", stroke: GREY, "stroke-width": 2.5 }],
    ["path", { d: "M14.5 14.5l6 6", stroke: "#66757f", "stroke-width": 3.5, "stroke-linecap": "round" }],
  ],
  "✉": [
    ["rect", { x: 2.5, y: 5.5, width: 19, height: 13, rx: 1.5, fill: "#ccd6dd", stroke: GREY, "stroke-width": 1 }],
    ["path", { d: "M3 6.5l9 7 9-7", fill: "none", stroke: "#66757f", "stroke-width": 1.6, "stroke-linejoin": "round" }],
  ],
  "🚫": [
    ["circle", { cx: 12, cy: 12, r: 8.5, fill: "none", stroke: RED, "stroke-width": 3 }],
    ["path", { d: "M6 6l12 12", stroke: RED, "stroke-width": 3 }],
  ],
  "🚀": [
    ["path", { d: "M20 4c-5 0-9 3-11 8l3 3c5-2 8-6 8-11z", fill: "#ccd6dd" }],
    ["circle", { cx: 15, cy: 9, r: 1.8, fill: BLUE }],
    ["path", { d: "M9 12l-4 1-2 3 4-.5zM12 15l-1 4-3 2 .5-4z", fill: RED }],
    ["path", { d: "M8 16c-2 0-3 1.5-3.5 3.5C6.5 19 8 18 8 16z", fill: AMBER }],
  ],
  "🎨": [
    ["path", { d: "M12 3a9 9 0 1 0 0 18c1.5 0 2-1 1.5-2s-.2-2.5 1.5-2.5H18a3 3 0 0 0 3-3C21 7 17 3 12 3z", fill: "#d99e82" }],
    ["circle", { cx: 7.5, cy: 11, r: 1.6, fill: RED }],
    ["circle", { cx: 10, cy: 7, r: 1.6, fill: AMBER }],
    ["circle", { cx: 14.5, cy: 7, r: 1.6, fill: GREEN }],
    ["circle", { cx: 17, cy: 11, r: 1.6, fill: BLUE }],
  ],
  "🖌": [
    ["path", { d: "M20.5 3.5c-3 1.5-7.5 6-9.5 9l1.5 1.5c3-2 7.5-6.5 9-9.5z", fill: "#c1694f" }],
    ["path", { d: "M10.5 13.5l2 2-1.5 1.5-2-2z", fill: GREY }],
    ["path", { d: "M9 15c-2.5 0-4 1.5-4.5 3.5S3 21 3 21s3.5.5 5.5-1S10.5 17 9 15z", fill: BLUE }],
  ],
  "⏹": key(["rect", { x: 7.5, y: 7.5, width: 9, height: 9, fill: WHITE }]),
  "⏸": key(["path", { d: "M8 7h3v10H8zM13 7h3v10h-3z", fill: WHITE }]),
  "▶": key(["path", { d: "M9 7l8 5-8 5z", fill: WHITE }]),
  "◀": key(["path", { d: "M15 7l-8 5 8 5z", fill: WHITE }]),
};

// Any of the characters above, with its emoji-style selector if present.
const FIND = new RegExp("(" + Object.keys(EMOJI).join("|") + ")\uFE0F?", "gu");

// One emoji as an inline SVG (role img, named by the emoji) beside the emoji as hidden text for copying.
export function emojiIcon(text) {
  const bare = text.replace(/\uFE0F/g, "");
  const shapes = EMOJI[bare];
  const wrap = document.createElement("span");
  wrap.className = "emoji";
  wrap.dataset.emoji = bare;
  if (!shapes) {
    wrap.textContent = text;
    return wrap;
  }
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "emoji-icon");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", text);
  for (const [tag, attrs] of shapes) {
    const shape = document.createElementNS(NS, tag);
    for (const [name, value] of Object.entries(attrs)) shape.setAttribute(name, String(value));
    svg.appendChild(shape);
  }
  const copy = document.createElement("span");
  copy.className = "emoji-copy";
  copy.setAttribute("aria-hidden", "true");  // the SVG already names it
  copy.textContent = text;
  wrap.append(svg, copy);
  return wrap;
}

// `text` as nodes: plain text as text nodes, each emoji the page draws as its icon.
export function emojify(text) {
  const fragment = document.createDocumentFragment();
  const source = String(text);
  let last = 0;
  for (const match of source.matchAll(FIND)) {
    if (match.index > last) fragment.appendChild(document.createTextNode(source.slice(last, match.index)));
    fragment.appendChild(emojiIcon(match[0]));
    last = match.index + match[0].length;
  }
  if (last < source.length) fragment.appendChild(document.createTextNode(source.slice(last)));
  return fragment;
}
