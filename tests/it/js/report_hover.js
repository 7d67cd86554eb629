// Hovers and zooms report.html's charts in headless Chromium (Debian's, through
// playwright-core): node report_hover.js FILE_URL — prints one JSON line: how many charts
// the script drew, the values under the pointer, the title after a drag, and after a
// double-click.
const { chromium } = require("playwright-core");

(async () => {
  const [url] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector("html[data-ready='1']");
  const holders = await page.$$eval(".lc-live", (hs) => hs.length);
  const drawn = await page.$$eval(".lc-live svg.lc-chart", (cs) => cs.length);
  const chart = await page.$(".lc-live svg.lc-chart");
  await chart.scrollIntoViewIfNeeded();
  const box = await chart.boundingBox();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  const tip = await page.textContent(".lc-live .lc-tip");
  await page.mouse.move(box.x + box.width * 0.25, box.y + box.height * 0.5);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5, { steps: 5 });
  await page.mouse.up();
  const titles = () => page.$$eval(".lc-live .lc-title", (ts) => ts.map((t) => t.textContent));
  const zoomed = await titles();
  await page.mouse.dblclick(box.x + box.width * 0.5, box.y + box.height * 0.5);
  const whole = await titles();
  console.log(JSON.stringify({ holders, drawn, tip, zoomed, whole, errors }));
  await browser.close();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
