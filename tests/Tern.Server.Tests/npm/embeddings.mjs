// Embeds two texts through the official `openai` npm package (which asks for base64 and decodes it) and prints the
// vectors as one JSON line. Usage: node embeddings.mjs BASE_URL TEXT1 TEXT2
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "unused" });
const response = await client.embeddings.create({ model: "llama-tiny", input: [process.argv[3], process.argv[4]] });
console.log(JSON.stringify({ vectors: response.data.map((d) => d.embedding), usage: response.usage }));
