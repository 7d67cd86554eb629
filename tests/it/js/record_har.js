// Records a page as HAR with headless Chromium (Debian's, through playwright-core):
// node record_har.js URL OUT.har — waits until the page's title says it is done.
const { chromium } = require("playwright-core");

(async () => {
  const [url, out] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
  const context = await browser.newContext({ recordHar: { path: out } });
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => document.title.startsWith("done"), null, { timeout: 20000 });
  await context.close();
  await browser.close();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
