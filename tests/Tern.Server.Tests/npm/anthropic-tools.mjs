// A tool_use → tool_result round trip with the official `@anthropic-ai/sdk` npm package, once with messages.create
// and once with messages.stream; prints both as one JSON line. Usage: node anthropic-tools.mjs BASE_URL
import Anthropic from "@anthropic-ai/sdk";

const client = new Anthropic({ baseURL: process.argv[2], apiKey: "unused", maxRetries: 0 });
const tools = [{
  name: "get_weather",
  description: "The weather in a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
}];

async function roundTrip(send) {
  const messages = [{ role: "user", content: "Weather in Paris?" }];
  const first = await send({ model: "tiny", max_tokens: 64, tools, messages });
  const use = first.content.find((b) => b.type === "tool_use");
  messages.push({ role: "assistant", content: first.content });
  messages.push({ role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: `Sunny in ${use.input.city}` }] });
  const second = await send({ model: "tiny", max_tokens: 64, tools, messages });
  return { first, second };
}

const created = await roundTrip((body) => client.messages.create(body));
const streamed = await roundTrip((body) => client.messages.stream(body).finalMessage());
console.log(JSON.stringify({ created, streamed }));
