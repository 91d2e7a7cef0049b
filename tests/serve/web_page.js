// web_page.js: loads the page of a live `ttt serve` in headless Chromium (Debian's chromium,
// driven by npm playwright-core, fetched by scripts/fetch-data.sh) for tests/test_serve_web.c:
// fills the prompt box, temperature, max tokens and seed, clicks Generate, waits until the page
// marks the stream done (#out[data-done]), saves a PNG screenshot and prints one JSON object:
// {"text": the streamed output, "done": "ok"|"error", "error": the page's error line, "model": the
// model line, "page_errors": uncaught exceptions of the page's script}.
//   node web_page.js URL PLAYWRIGHT_DIR PROMPT MAX_TOKENS SEED TEMPERATURE SCREENSHOT.png
// Environment: CHROMIUM (default /usr/bin/chromium). Exit status 0 when the page was driven (the
// caller judges the text), 1 on any failure of the browser or the page (message on stderr).
'use strict';
const [url, pwDir, prompt, maxTokens, seed, temperature, shot] = process.argv.slice(2);
if (!shot) {
    process.stderr.write('usage: node web_page.js URL PLAYWRIGHT_DIR PROMPT MAX_TOKENS SEED TEMPERATURE SCREENSHOT.png\n');
    process.exit(2);
}
const { chromium } = require(pwDir);

async function main() {
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
        timeout: 30000,
    });
    try {
        const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
        page.setDefaultTimeout(30000);
        const pageErrors = [];   // uncaught exceptions of the page's script
        page.on('pageerror', e => pageErrors.push(String(e)));
        await page.goto(url + '/', { waitUntil: 'load' });
        await page.fill('#prompt', prompt);
        await page.fill('#temp', temperature);
        await page.fill('#maxt', maxTokens);
        await page.fill('#seed', seed);
        await page.click('#go');
        await page.waitForSelector('#out[data-done]', { state: 'attached' });
        const r = await page.evaluate(() => ({
            text: document.getElementById('out').textContent,
            done: document.getElementById('out').getAttribute('data-done'),
            error: document.getElementById('err').textContent,
            model: document.getElementById('model').textContent,
        }));
        await page.screenshot({ path: shot, fullPage: true });
        r.page_errors = pageErrors;
        process.stdout.write(JSON.stringify(r) + '\n');
    } finally {
        await browser.close();
    }
}

main().catch(e => {
    process.stderr.write('web_page.js: ' + (e && e.stack ? e.stack : String(e)) + '\n');
    process.exit(1);
});
