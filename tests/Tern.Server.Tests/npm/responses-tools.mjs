// A function tool round trip with the official `openai` npm package: the model calls get_weather (function_call), the
// client answers with a function_call_output, the model answers; then the same with responses.stream(...).
// Prints one JSON line. Usage: node responses-tools.mjs BASE_URL
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "unused" });
const tools = [{
  type: "function",
  name: "get_weather",
  description: "The weather in a city",
  strict: false,
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
}];
const weather = (args) => `sunny in ${JSON.parse(args).city}`;

async function roundTrip(create) {
  const input = [{ role: "user", content: "What is the weather in Paris?" }];
  const first = await create({ model: "tiny", input, tools });
  const call = first.output.find((o) => o.type === "function_call");
  if (!call) throw new Error("no function_call in " + JSON.stringify(first.output));
  input.push(...first.output);
  input.push({ type: "function_call_output", call_id: call.call_id, output: weather(call.arguments) });
  const second = await create({ model: "tiny", input, tools });
  return { call: { name: call.name, arguments: call.arguments, call_id: call.call_id, status: call.status }, answer: second.output_text, status: second.status };
}

const plain = await roundTrip((body) => client.responses.create(body));
const streamed = await roundTrip((body) => client.responses.stream(body).finalResponse());
console.log(JSON.stringify({ plain, streamed }));
