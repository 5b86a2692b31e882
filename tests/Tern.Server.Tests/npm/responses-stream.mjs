// Streams one response with the official `openai` npm package's responses.stream(...) helper and prints its
// finalResponse() as one JSON line. Usage: node responses-stream.mjs BASE_URL INPUT
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "unused" });
const events = [];
const stream = client.responses.stream({ model: "tiny", input: process.argv[3] });
stream.on("event", (event) => events.push(event.type));
const final = await stream.finalResponse();
console.log(JSON.stringify({ events, response: final }));
