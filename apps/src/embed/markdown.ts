// A capsule's description and hints are Markdown written by its authors (or an LLM). They are rendered into DOM nodes
// directly, never through innerHTML: text is always text, so no markup, script or handler in the Markdown can reach
// the reader's page. Links open only http(s) and mailto addresses. The subset is what capsules use: paragraphs,
// headings, fenced and indented code, bullet and numbered lists, quotes, rules, and inline code, bold, italics,
// strikethrough and links.

const SAFE_LINK = /^(https?:|mailto:)/i;

type Inline = (text: string) => Node[];

/** Inline Markdown in `text` as nodes: `code`, **bold**, *italic* / _italic_, ~~struck~~, [text](url). */
export const inline: Inline = (text) => {
  const nodes: Node[] = [];
  const pattern = /`([^`]+)`|\*\*(.+?)\*\*|__(.+?)__|~~(.+?)~~|\*(?!\s)(.+?)\*|(?<![\w])_(?!\s)(.+?)_(?![\w])|\[([^\]]+)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const at = match.index ?? 0;
    if (at > last) nodes.push(document.createTextNode(text.slice(last, at)));
    const [, code, bold, bold2, struck, italic, italic2, label, href] = match;
    if (code !== undefined) nodes.push(element("code", [document.createTextNode(code)]));
    else if (bold !== undefined || bold2 !== undefined) nodes.push(element("strong", inline(bold ?? bold2)));
    else if (struck !== undefined) nodes.push(element("del", inline(struck)));
    else if (italic !== undefined || italic2 !== undefined) nodes.push(element("em", inline(italic ?? italic2)));
    else if (label !== undefined && SAFE_LINK.test(href)) {
      const link = element("a", inline(label)) as HTMLAnchorElement;
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener noreferrer nofollow";
      nodes.push(link);
    } else nodes.push(document.createTextNode(label ?? match[0]));
    last = at + match[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
};

function element(tag: string, children: Node[]): HTMLElement {
  const made = document.createElement(tag);
  made.append(...children);
  return made;
}

/** Block Markdown as a fragment of safe nodes. */
export function renderMarkdown(markdown: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  const lines = markdown.replace(/\r\n?/g, "\n").split("\n");
  let index = 0;
  const paragraph: string[] = [];
  const endParagraph = () => {
    if (paragraph.length > 0) fragment.append(element("p", inline(paragraph.join(" "))));
    paragraph.length = 0;
  };
  while (index < lines.length) {
    const line = lines[index];
    const fence = /^\s*(```|~~~)/.exec(line);
    if (fence) {
      endParagraph();
      const code: string[] = [];
      index += 1;
      while (index < lines.length && !lines[index].trimStart().startsWith(fence[1])) code.push(lines[index++]);
      index += 1;
      fragment.append(element("pre", [element("code", [document.createTextNode(code.join("\n"))])]));
      continue;
    }
    if (/^ {4}\S/.test(line) && paragraph.length === 0) {
      const code: string[] = [];
      while (index < lines.length && (/^ {4}/.test(lines[index]) || lines[index].trim() === "")) code.push(lines[index++].slice(4));
      while (code.length > 0 && code[code.length - 1].trim() === "") code.pop();
      fragment.append(element("pre", [element("code", [document.createTextNode(code.join("\n"))])]));
      continue;
    }
    const heading = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      endParagraph();
      // The capsule's title is the widget's heading (h2): the description's headings sit below it.
      const level = Math.min(6, heading[1].length + 2);
      fragment.append(element(`h${level}`, inline(heading[2])));
      index += 1;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      endParagraph();
      fragment.append(document.createElement("hr"));
      index += 1;
      continue;
    }
    const item = /^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/.exec(line);
    if (item) {
      endParagraph();
      const ordered = /\d/.test(item[1]);
      const list = document.createElement(ordered ? "ol" : "ul");
      while (index < lines.length) {
        const next = /^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/.exec(lines[index]);
        if (next && /\d/.test(next[1]) === ordered) {
          list.append(element("li", inline(next[2])));
        } else if (lines[index].trim() !== "" && /^\s{2,}/.test(lines[index]) && list.lastChild) {
          list.lastChild.appendChild(document.createTextNode(" "));
          for (const node of inline(lines[index].trim())) list.lastChild.appendChild(node);
        } else break;
        index += 1;
      }
      fragment.append(list);
      continue;
    }
    if (/^\s*>/.test(line)) {
      endParagraph();
      const quoted: string[] = [];
      while (index < lines.length && /^\s*>/.test(lines[index])) quoted.push(lines[index++].replace(/^\s*>\s?/, ""));
      fragment.append(element("blockquote", [renderMarkdown(quoted.join("\n"))]));
      continue;
    }
    if (line.trim() === "") endParagraph();
    else paragraph.push(line.trim());
    index += 1;
  }
  endParagraph();
  return fragment;
}
