// Streams one message with the official `@anthropic-ai/sdk` npm package's messages.stream and prints the final
// message it assembled and the text it reported, as one JSON line. Usage: node anthropic-stream.mjs BASE_URL REQUEST_JSON_IN_BASE64
import Anthropic from "@anthropic-ai/sdk";

const client = new Anthropic({ baseURL: process.argv[2], apiKey: "unused", maxRetries: 0 });
const stream = client.messages.stream(JSON.parse(Buffer.from(process.argv[3], "base64").toString()));
let text = "";
stream.on("text", (delta) => { text += delta; });
const message = await stream.finalMessage();
console.log(JSON.stringify({ message, text }));
