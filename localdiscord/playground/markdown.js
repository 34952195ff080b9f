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

function findClose(text, delim, from) {
  for (let i = from; i < text.length; i++) {
    if (text[i] === "\\") { i++; continue; }
    if (text.startsWith(delim, i)) {
      // "*" must not close on the first star of a "**".
      if (delim.length === 1 && text[i + 1] === delim) { i++; continue; }
      return i;
    }
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
  let i = 0;
  outer: while (i < text.length) {
    const c = text[i];
    if (c === "\\" && i + 1 < text.length && ESCAPABLE.test(text[i + 1])) {
      buffer += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "`") {
      const fence = text.startsWith("``", i) ? "``" : "`";
      const end = text.indexOf(fence, i + fence.length);
      if (end > i + fence.length - 1 && end !== i + fence.length) {
        emit(codeToken(text.slice(i + fence.length, end)));
        i = end + fence.length;
        continue;
      }
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
      if (m) {
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
      const m = /^\[([^\]\n]+)\]\(<?(https?:\/\/[^\s)>]+)>?\)/.exec(text.slice(i));
      if (m) {
        emit({ type: "link", url: m[2], text: m[1] });
        i += m[0].length;
        continue;
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
