// Drives POST /v1/responses with the official `openai` npm package: responses.create (plain and streamed) and
// responses.stream(...).finalResponse(); prints one JSON line with what each returned. Usage: node responses-create.mjs BASE_URL
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "unused" });
const request = { model: "tiny", instructions: "Answer briefly.", input: "Hello?" };

const created = await client.responses.create(request);

const types = [];
let deltas = "";
let completed = null;
for await (const event of await client.responses.create({ ...request, stream: true })) {
  types.push(event.type);
  if (event.type === "response.output_text.delta") deltas += event.delta;
  if (event.type === "response.completed") completed = event.response;
}

const stream = client.responses.stream(request);
let streamedText = "";
stream.on("response.output_text.delta", (event) => { streamedText += event.delta; });
const final = await stream.finalResponse();

console.log(JSON.stringify({
  created: { id: created.id, status: created.status, output_text: created.output_text, usage: created.usage, types: created.output.map((o) => o.type) },
  streamed: { types, deltas, status: completed?.status, text: completed?.output.filter((o) => o.type === "message").flatMap((o) => o.content).map((c) => c.text).join("") },
  final: { id: final.id, status: final.status, output_text: final.output_text, streamedText, types: final.output.map((o) => o.type) },
}));
