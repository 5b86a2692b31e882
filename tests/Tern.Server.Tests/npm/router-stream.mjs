// Lists a router-mode Tern server's models and streams one chat completion from MODEL (not loaded yet: the stream
// opens with SSE comment lines while it loads) with the official `openai` npm package; prints what it got as one
// JSON line. Usage: node router-stream.mjs BASE_URL MODEL
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "unused" });
const listed = [];
for await (const model of client.models.list()) listed.push(model.id);
const stream = await client.chat.completions.create({
  model: process.argv[3],
  messages: [{ role: "user", content: "hi" }],
  max_tokens: 4,
  stream: true,
  stream_options: { include_usage: true },
});
let model = null;
let finish = null;
let usage = null;
for await (const chunk of stream) {
  model ??= chunk.model;
  if (chunk.choices.length > 0) finish = chunk.choices[0].finish_reason ?? finish;
  if (chunk.usage) usage = chunk.usage;
}
console.log(JSON.stringify({ model, finish, usage, listed }));
