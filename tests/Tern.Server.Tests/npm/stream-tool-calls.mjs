// Streams one chat completion with tools through the official `openai` npm package's stream helper, which puts the
// streamed tool-call pieces together, and prints the final message's tool calls and finish reason as one JSON line.
// Usage: node stream-tool-calls.mjs BASE_URL
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "unused" });
const tool = (name, parameter) => ({
  type: "function",
  function: { name, parameters: { type: "object", properties: { [parameter]: { type: "string" } } } },
});
const stream = client.chat.completions.stream({
  model: "stories",
  messages: [{ role: "user", content: "Weather and time in Paris?" }],
  tools: [tool("get_weather", "city"), tool("get_time", "zone")],
});
const final = await stream.finalChatCompletion();
const choice = final.choices[0];
console.log(JSON.stringify({ finish: choice.finish_reason, calls: choice.message.tool_calls }));
