// A minimal hyper research skill in JavaScript. JavaScript components have no file API here,
// so this one ignores the data and ranks documents by id; `hyper skill build` runs
// componentize-js on it. s64 parameters arrive as BigInt.
import { log } from "hyper:research/log@0.1.0";

const QUERIES = 225;

export const experiment = {
  describe() {
    return {
      name: "{{name}}",
      version: "0.1.0",
      domain: "{{domain}}",
      description: "ranks documents by id (JavaScript template)",
      params: [
        {
          name: "depth",
          description: "documents returned per query",
          kind: { tag: "int", val: { min: 1n, max: 100n, default: 10n } },
        },
      ],
    };
  },

  run(spec) {
    let depth = 10;
    for (const p of spec.params) {
      if (p.name === "depth" && p.value.tag === "int") depth = Number(p.value.val);
    }
    let out = "";
    for (let q = 1; q <= QUERIES; q++) {
      for (let r = 0; r < depth; r++) out += `${q}\t${r + 1}\t${r + 1}\t${depth - r}\n`;
    }
    log("info", `ranked ${depth} documents per query`);
    return { mediaType: "text/tab-separated-values; profile=trec-run", bytes: new TextEncoder().encode(out) };
  },
};
