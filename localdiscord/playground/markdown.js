// Discord's markdown, the safe subset the playground shows: a pure function from a string to tokens.
//
// No DOM and no page state here: parseMarkdown(text) returns a list of blocks, parseInline(text) a list
// of inline tokens, all plain data. Text from a member stays text: there is no token that carries markup,
// only "text" tokens (their characters, whatever they are) and a fixed set of kinds the renderer
// (richtext.js) turns into elements of its own. Links are only http(s); everything else stays text.
// tests/playground/test_markdown.py runs this module in Chromium against a table of cases.
//
// Blocks:  { type: "line" | "subtext" | "h1" | "h2" | "h3" | "quote" | "li", children: Inline[] }
//            (children empty for an empty line)
//          { type: "code_block", text }
// Inline:  { type: "text", text }
//          { type: "strong" | "em" | "u" | "s" | "spoiler", children: Inline[] }
//          { type: "code", text }              `code`
//          { type: "progress", percent }       `████░░░░`, how the bot draws progress
//          { type: "mention", kind: "user" | "role" | "channel", id }
//          { type: "timestamp", seconds, style }  <t:1700000000:R>
//          { type: "emoji", name, id }         <:name:id>, shown as :name:
//          { type: "link", url, text }         url starts with http:// or https://; text is plain text

const ESCAPABLE = /[\\*_`~|>#\-[\]()<:@.!+=]/;

const STYLES = [["**", "strong"], ["__", "u"], ["~~", "s"], ["||", "spoiler"], ["*", "em"], ["_", "em"]];

const MENTION_KINDS = { "@": "user", "@!": "user", "@&": "role", "#": "channel" };

// The largest time a JavaScript Date holds, in seconds (100 million days either side of 1970).
const MAX_SECONDS = 8.64e12;

function findClose(text, delim, from) {
  for (let i = from; i < text.length; i++) {
    if (text[i] === "\\") { i++; continue; }
    if (text.startsWith(delim, i)) {
      // "*" must not close on the first star of a "**".
      if (delim.length === 1 && text[i + 1] === delim) { i++; continue; }
      // "**" and "__" close on the last two of a run, as on Discord: ***both*** is bold italic.
      if ((delim === "**" || delim === "__") && text[i + 2] === delim[0]) continue;
      return i;
    }
  }
  return -1;
}

// The target of a masked link, read from just after its "](".
const LINK_TARGET = /<?(https?:\/\/[^\s)>]+)>?\)/y;

// The first "]" or line break from `from` on (or the end of the text).
function endOfLabel(text, from) {
  let i = from;
  while (i < text.length && text[i] !== "]" && text[i] !== "\n") i++;
  return i;
}

// Where a code span opened by `length` backticks closes: the next run of exactly that many, or -1.
function closingRun(text, from, length) {
  for (let i = text.indexOf("`", from); i !== -1; ) {
    let end = i;
    while (text[end] === "`") end++;
    if (end - i === length) return i;
    i = text.indexOf("`", end);
  }
  return -1;
}

function codeToken(code) {
  // The bot draws progress as a bar of block characters; the page shows it as a real bar.
  if (/^[█░]{4,}$/.test(code)) {
    const chars = [...code];
    const filled = chars.filter((ch) => ch === "█").length;
    return { type: "progress", percent: Math.round((100 * filled) / chars.length) };
  }
  return { type: "code", text: code };
}

export function parseInline(text) {
  text = String(text ?? "");
  const out = [];
  let buffer = "";
  const flush = () => {
    if (buffer) out.push({ type: "text", text: buffer });
    buffer = "";
  };
  const emit = (token) => {
    flush();
    out.push(token);
  };
  let labelEnd = -1;  // where the label of a "[" at or before i ends
  let i = 0;
  outer: while (i < text.length) {
    const c = text[i];
    if (c === "\\" && i + 1 < text.length && ESCAPABLE.test(text[i + 1])) {
      buffer += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "`") {
      // A run of backticks opens a code span that a run of as many closes (```x``` inline too); as on
      // Discord, a run that finds no such closer may open with fewer, the rest being code.
      let run = 1;
      while (text[i + run] === "`") run++;
      for (let length = run; length >= 1; length--) {
        const end = closingRun(text, i + run, length);
        if (end === -1) continue;
        emit(codeToken(text.slice(i + length, end)));
        i = end + length;
        continue outer;
      }
      buffer += text.slice(i, i + run);
      i += run;
      continue;
    }
    for (const [delim, type] of STYLES) {
      if (!text.startsWith(delim, i)) continue;
      if (delim === "_" && i > 0 && /\w/.test(text[i - 1])) continue;
      if (delim.length === 1 && /\s/.test(text[i + 1] || " ")) continue;
      const end = findClose(text, delim, i + delim.length);
      if (end <= i + delim.length) continue;
      if (delim === "_" && /\w/.test(text[end + 1] || "")) continue;
      emit({ type, children: parseInline(text.slice(i + delim.length, end)) });
      i = end + delim.length;
      continue outer;
    }
    if (c === "<") {
      const rest = text.slice(i);
      let m = /^<(@!?|@&|#)(\d+)>/.exec(rest);
      if (m) {
        emit({ type: "mention", kind: MENTION_KINDS[m[1]], id: m[2] });
        i += m[0].length;
        continue;
      }
      m = /^<t:(-?\d+)(?::([tTdDfFR]))?>/.exec(rest);
      // Beyond what a Date can hold it is no time at all, and stays text.
      if (m && Math.abs(Number(m[1])) <= MAX_SECONDS) {
        emit({ type: "timestamp", seconds: Number(m[1]), style: m[2] || "f" });
        i += m[0].length;
        continue;
      }
      m = /^<a?:(\w+):(\d+)>/.exec(rest);
      if (m) {
        emit({ type: "emoji", name: m[1], id: m[2] });
        i += m[0].length;
        continue;
      }
      m = /^<(https?:\/\/[^\s>]+)>/.exec(rest);
      if (m) {
        emit({ type: "link", url: m[1], text: m[1] });
        i += m[0].length;
        continue;
      }
    }
    if (c === "[") {
      // [label](https://…): the label runs to the first "]" (no line break in it). That end is shared by
      // every "[" before it, so a long run of unclosed brackets is read once, not once per bracket.
      if (labelEnd <= i) labelEnd = endOfLabel(text, i + 1);
      if (labelEnd > i + 1 && text.startsWith("](", labelEnd)) {
        LINK_TARGET.lastIndex = labelEnd + 2;
        const m = LINK_TARGET.exec(text);
        if (m) {
          emit({ type: "link", url: m[1], text: text.slice(i + 1, labelEnd) });
          i = LINK_TARGET.lastIndex;
          continue;
        }
      }
    }
    if (c === "h" && (text.startsWith("https://", i) || text.startsWith("http://", i))) {
      const m = /^https?:\/\/[^\s<]*[^\s<.,:;"')\]!?]/.exec(text.slice(i));
      if (m) {
        emit({ type: "link", url: m[0], text: m[0] });
        i += m[0].length;
        continue;
      }
    }
    buffer += c;
    i += 1;
  }
  flush();
  return out;
}

export function parseMarkdown(text) {
  const blocks = [];
  const lines = String(text || "").split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    if (line.startsWith("```")) {
      // The rest of the opening line names the language (dropped); the block runs to a line starting
      // with ``` or to the end. ```code``` on one line is a block too.
      const body = [];
      let end = n + 1;
      const first = line.slice(3);
      if (first.endsWith("```") && first.length >= 3) {
        body.push(first.slice(0, -3));
        end = n;
      } else {
        while (end < lines.length && !lines[end].startsWith("```")) body.push(lines[end++]);
      }
      blocks.push({ type: "code_block", text: body.join("\n") });
      n = end;
      continue;
    }
    let type = "line";
    let rest = line;
    let m;
    if ((m = /^-# (.*)$/.exec(line))) {
      type = "subtext";
      rest = m[1];
    } else if ((m = /^(#{1,3}) (.*)$/.exec(line))) {
      type = "h" + m[1].length;
      rest = m[2];
    } else if ((m = /^>>> ?(.*)$/.exec(line))) {
      // ">>> " quotes everything after it, line breaks and all.
      blocks.push({ type: "quote", children: parseInline([m[1], ...lines.slice(n + 1)].join("\n")) });
      return blocks;
    } else if ((m = /^> ?(.*)$/.exec(line))) {
      type = "quote";
      rest = m[1];
    } else if ((m = /^\s*[-*] (.*)$/.exec(line))) {
      type = "li";
      rest = m[1];
    }
    blocks.push({ type, children: rest === "" ? [] : parseInline(rest) });
  }
  return blocks;
}
