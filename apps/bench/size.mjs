// The built apps' sizes as a browser receives them: raw, gzip (level 9 and the default 6) and brotli (quality 11,
// what Cloudflare serves to browsers that take it). The embed's budget: embed.js, styles and editor included, under
// 100 kB compressed (100,000 bytes of gzip -9).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const DIST = new URL("../dist/", import.meta.url).pathname;
const BUDGET_BYTES = 100_000;

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

console.log("| file | raw | gzip -9 | gzip -6 | brotli 11 |\n|---|---|---|---|---|");
let embed = 0;
for (const path of files(DIST).filter((path) => /\.(js|css)$/.test(path)).sort()) {
  const bytes = readFileSync(path);
  const gzip9 = gzipSync(bytes, { level: 9 }).length;
  const gzip6 = gzipSync(bytes, { level: 6 }).length;
  const brotli = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  if (relative(DIST, path) === "embed.js") embed = gzip9;
  const kB = (n) => (n / 1000).toFixed(1);
  console.log(`| ${relative(DIST, path)} | ${kB(bytes.length)} kB | ${kB(gzip9)} kB | ${kB(gzip6)} kB | ${kB(brotli)} kB |`);
}
console.log(`\nembed.js, gzip -9: ${embed} bytes of the ${BUDGET_BYTES} budget (${embed <= BUDGET_BYTES ? "within" : "OVER"})`);
process.exitCode = embed > 0 && embed <= BUDGET_BYTES ? 0 : 1;
