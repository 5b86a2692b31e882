// Streams one chat completion from a Tern server with the official `openai` npm package and prints what it got
// as one JSON line: the text, the finish reason and the usage. Usage: node stream-chat.mjs BASE_URL
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "unused" });
const stream = await client.chat.completions.create({
  model: "stories",
  messages: [{ role: "user", content: "Once upon a time" }],
  temperature: 0,
  max_tokens: 16,
  stream: true,
  stream_options: { include_usage: true },
});
let text = "";
let finish = null;
let usage = null;
for await (const chunk of stream) {
  if (chunk.choices.length > 0) {
    text += chunk.choices[0].delta.content ?? "";
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  if (chunk.usage) usage = chunk.usage;
}
console.log(JSON.stringify({ text, finish, usage }));
