import { describe, expect, it } from "vitest";
import { renderMarkdown } from "../src/embed/markdown";

function html(markdown: string): string {
  const box = document.createElement("div");
  box.append(renderMarkdown(markdown));
  return box.innerHTML;
}

describe("a capsule's Markdown", () => {
  it("renders the subset capsules use", () => {
    expect(html("Read **one** line, *then* print `sum`.")).toBe("<p>Read <strong>one</strong> line, <em>then</em> print <code>sum</code>.</p>");
    expect(html("- a\n- b\n\n1. x\n2. y")).toBe("<ul><li>a</li><li>b</li></ul><ol><li>x</li><li>y</li></ol>");
    expect(html("```python\nprint(1 < 2)\n```")).toBe("<pre><code>print(1 &lt; 2)</code></pre>");
    expect(html("# Title\ntext")).toBe("<h3>Title</h3><p>text</p>");
    expect(html("> quoted")).toBe("<blockquote><p>quoted</p></blockquote>");
  });

  it("keeps markup as text: no element, handler or script of the Markdown reaches the page", () => {
    const box = document.createElement("div");
    box.append(renderMarkdown('<img src=x onerror="alert(1)"> <script>alert(2)</script>\n\n**<b onclick="x()">bold</b>**'));
    expect(box.querySelector("img, script, b")).toBeNull();
    expect(box.textContent).toContain('<img src=x onerror="alert(1)">');
    expect(box.querySelectorAll("[onerror], [onclick]").length).toBe(0);
  });

  it("links only http(s) and mailto, in a new tab without the opener", () => {
    const box = document.createElement("div");
    box.append(renderMarkdown("[docs](https://docs.python.org/3/) and [bad](javascript:alert(1)) and [data](data:text/html,x)"));
    const links = box.querySelectorAll("a");
    expect(links.length).toBe(1);
    expect(links[0].getAttribute("href")).toBe("https://docs.python.org/3/");
    expect(links[0].getAttribute("rel")).toBe("noopener noreferrer nofollow");
    expect(box.textContent).toContain("bad");
  });
});
