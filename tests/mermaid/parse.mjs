// Parse Mermaid diagrams with Mermaid's own parser (the `mermaid` npm package), offline.
// stdin: diagram texts separated by NUL; stdout: one JSON list, per diagram {ok, type} or {ok, error}.
// Mermaid expects a browser; jsdom gives it the window and document its parser touches.
import { JSDOM } from "jsdom";
import { readFileSync } from "node:fs";

const dom = new JSDOM("<!DOCTYPE html><body></body>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
for (const name of ["Element", "HTMLElement", "Node", "DOMParser"]) {
  if (!(name in globalThis)) globalThis[name] = dom.window[name];
}
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

const results = [];
for (const text of readFileSync(0, "utf8").split("\u0000").filter((block) => block.trim())) {
  try {
    const parsed = await mermaid.parse(text);
    results.push({ ok: true, type: parsed.diagramType });
  } catch (error) {
    results.push({ ok: false, error: String(error.message || error).split("\n").slice(0, 4).join(" | ") });
  }
}
console.log(JSON.stringify(results));
