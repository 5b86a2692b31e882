// Drives a Tern server with the official `@anthropic-ai/sdk` npm package: messages.create, messages.stream,
// messages.countTokens and a refused request; prints what it got as one JSON line. Usage: node anthropic-messages.mjs BASE_URL KEY
import Anthropic from "@anthropic-ai/sdk";

const client = new Anthropic({ baseURL: process.argv[2], apiKey: process.argv[3], maxRetries: 0 });
const request = {
  model: "stories",
  system: "You tell stories.",
  messages: [{ role: "user", content: [{ type: "text", text: "Once upon a time" }] }],
  max_tokens: 12,
  temperature: 0,
};

const created = await client.messages.create(request);

const stream = client.messages.stream(request);
let streamedText = "";
stream.on("text", (delta) => { streamedText += delta; });
const streamed = await stream.finalMessage();

const counted = await client.messages.countTokens({ model: request.model, system: request.system, messages: request.messages });

let refused = null;
try {
  await client.messages.create({ ...request, temperature: 3 });
} catch (e) {
  refused = { status: e.status, type: e.error?.error?.type, message: e.error?.error?.message, isBadRequest: e instanceof Anthropic.BadRequestError };
}

console.log(JSON.stringify({ created, streamed, streamedText, counted, refused }));
