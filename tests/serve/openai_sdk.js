// openai_sdk.js: drives a live `ttt serve` with the official OpenAI SDK for Node (npm openai,
// fetched by scripts/fetch-data.sh) for tests/test_serve.c: completions and chat, plain and
// streamed, and the SDK's errors for a wrong key and a bad field. Prints one JSON object.
//   node openai_sdk.js SDK_DIR BASE_URL API_KEY PROMPT SEED
'use strict';
const [sdkDir, baseURL, apiKey, prompt, seedArg] = process.argv.slice(2);
const { OpenAI } = require(sdkDir);
const seed = parseInt(seedArg, 10);

async function main() {
    const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });
    const out = {};
    const args = { model: 'm', prompt, max_tokens: 10, temperature: 0.9, top_p: 0.9, seed };
    const c = await client.completions.create(args);
    out.completion = c.choices[0].text;
    out.completion_usage = c.usage;
    let s = '';
    for await (const ch of await client.completions.create({ ...args, stream: true })) s += ch.choices[0].text;
    out.completion_stream = s;
    const msg = { model: 'm', messages: [{ role: 'user', content: prompt }], max_tokens: 8, temperature: 0, seed };
    const cc = await client.chat.completions.create(msg);
    out.chat = cc.choices[0].message.content;
    out.chat_role = cc.choices[0].message.role;
    let cs = '';
    for await (const ch of await client.chat.completions.create({ ...msg, stream: true }))
        if (ch.choices.length && ch.choices[0].delta.content) cs += ch.choices[0].delta.content;
    out.chat_stream = cs;
    const models = await client.models.list();
    out.models = models.data.map(m => m.id);
    try {
        await new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 }).completions.create(args);
        out.wrong_key = 'no error';
    } catch (e) {
        out.wrong_key = e.status;
    }
    try {
        await client.completions.create({ ...args, max_tokens: 'many' });
        out.bad_field = 'no error';
    } catch (e) {
        out.bad_field = e.status;
        out.bad_field_param = e.param;
    }
    process.stdout.write(JSON.stringify(out) + '\n');
}
main().catch(e => {
    process.stdout.write(JSON.stringify({ fatal: String(e && e.stack || e) }) + '\n');
    process.exit(1);
});
