// Watches loadctl's live dashboard in headless Chromium (Debian's, through playwright-core):
// node dashboard.js URL SHOT.png — waits for the request count to rise while the run goes,
// then for the verdict; hovers a chart, drags across it to zoom, takes a screenshot, and
// prints what it saw as one JSON line.
const { chromium } = require("playwright-core");

(async () => {
  const [url, shot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const page = await browser.newPage({ viewport: { width: 1100, height: 1300 } });
  // The page must need nothing but loadctl.
  const elsewhere = [];
  page.on("request", (r) => { if (!r.url().startsWith(url)) elsewhere.push(r.url()); });
  for (let i = 0; ; i++) {
    try { await page.goto(url); break; } catch (e) { if (i > 50) throw e; await new Promise((r) => setTimeout(r, 200)); }
  }
  const count = () => page.evaluate(() => +(document.getElementById("status").getAttribute("data-requests") || 0));
  await page.waitForFunction(() => +(document.getElementById("status").getAttribute("data-requests") || 0) > 0, null, { timeout: 60000 });
  const first = await count();
  await page.waitForFunction((n) => +(document.getElementById("status").getAttribute("data-requests") || 0) > n, first, { timeout: 60000 });
  const second = await count();
  const running = await page.textContent("#status");
  await page.waitForSelector("#verdict.pass, #verdict.fail", { timeout: 120000 });
  const verdict = await page.textContent("#verdict");
  const box = await (await page.$("#rate svg")).boundingBox();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  const tip = await page.textContent("#rate .lc-tip");
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5, { steps: 5 });
  await page.mouse.up();
  const zoomed = await page.textContent("#latency .lc-title");
  const lines = await page.$$eval("svg.lc-chart path", (ps) => ps.length);
  const charts = await page.$$eval("svg.lc-chart", (cs) => cs.length);
  await page.screenshot({ path: shot, fullPage: true });
  const report = await (await page.request.get(url + "report.html")).status();
  console.log(JSON.stringify({ first, second, running, verdict, tip, zoomed, lines, charts, report, elsewhere }));
  await browser.close();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
