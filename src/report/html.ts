/**
 * Self-contained HTML reports: one file, inline CSS and inline SVG figures, no scripts
 * or network resources, so a report can be mailed or archived as it is.
 */
export type ReportBlock =
  | { kind: "heading"; text: string }
  | { kind: "paragraph"; text: string }
  | { kind: "table"; columns: string[]; rows: (string | number)[][]; caption?: string }
  | { kind: "figure"; svg: string; caption?: string }
  | { kind: "code"; text: string };

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function cell(v: string | number): string {
  if (typeof v === "number") {
    const text = Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
    return `<td class="num">${escapeHtml(text)}</td>`;
  }
  return `<td>${escapeHtml(v)}</td>`;
}

function block(b: ReportBlock): string {
  switch (b.kind) {
    case "heading":
      return `<h2>${escapeHtml(b.text)}</h2>`;
    case "paragraph":
      return `<p>${escapeHtml(b.text)}</p>`;
    case "code":
      return `<pre>${escapeHtml(b.text)}</pre>`;
    case "figure":
      // Strip an XML prolog: inline SVG must start at <svg.
      return `<figure>${b.svg.replace(/^<\?xml[^>]*>\s*/, "")}${b.caption ? `<figcaption>${escapeHtml(b.caption)}</figcaption>` : ""}</figure>`;
    case "table":
      // A table wider than the page scrolls inside its own box; the page never does.
      return `<div class="table-wrap"><table>${b.caption ? `<caption>${escapeHtml(b.caption)}</caption>` : ""}<thead><tr>${b.columns
        .map((c) => `<th>${escapeHtml(c)}</th>`)
        .join("")}</tr></thead><tbody>${b.rows.map((r) => `<tr>${r.map(cell).join("")}</tr>`).join("")}</tbody></table></div>`;
  }
}

export function renderHtmlReport(title: string, blocks: ReportBlock[], opts: { generated?: Date } = {}): string {
  const when = (opts.generated ?? new Date()).toISOString();
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.table-wrap{max-width:100%;overflow-x:auto}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}figcaption{font-size:.85em;color:#555}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto}footer{margin-top:3em;font-size:.8em;color:#777}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
${blocks.map(block).join("\n")}
<footer>axnn report, generated ${escapeHtml(when)}</footer>
</body></html>
`;
}
