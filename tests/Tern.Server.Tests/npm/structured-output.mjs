// Asks a Tern server for structured output with the official `openai` npm package (response_format json_schema,
// streamed and not, several seeds at temperature 1) and validates every reply with ajv. Prints one JSON line:
// how many replies were valid, and the failures. Usage: node structured-output.mjs BASE_URL MODEL
import OpenAI from "openai";
import Ajv from "ajv";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "unused" });
const schemas = {
  order: {
    type: "object",
    properties: {
      item: { enum: ["tea", "coffee", "cake"] },
      quantity: { type: "integer", minimum: 1, maximum: 12 },
      notes: { type: "array", items: { type: "string", maxLength: 8 }, maxItems: 2 },
      customer: {
        type: "object",
        properties: { code: { type: "string", pattern: "^[A-Z]{2}[0-9]{2}$" }, vip: { type: "boolean" } },
        required: ["code", "vip"],
        additionalProperties: false,
      },
    },
    required: ["item", "quantity", "notes", "customer"],
    additionalProperties: false,
  },
};
const ajv = new Ajv();
let valid = 0;
const failures = [];
for (const [name, schema] of Object.entries(schemas)) {
  const validate = ajv.compile(schema);
  for (let seed = 0; seed < 4; seed++) {
    for (const stream of [false, true]) {
      const request = {
        model: process.argv[3],
        messages: [{ role: "user", content: "Order something, as JSON." }],
        temperature: 1,
        seed,
        max_tokens: 400,
        response_format: { type: "json_schema", json_schema: { name, schema, strict: true } },
      };
      let text = "";
      let finish = null;
      if (stream) {
        for await (const chunk of await client.chat.completions.create({ ...request, stream: true })) {
          if (chunk.choices.length > 0) {
            text += chunk.choices[0].delta.content ?? "";
            finish = chunk.choices[0].finish_reason ?? finish;
          }
        }
      } else {
        const completion = await client.chat.completions.create(request);
        text = completion.choices[0].message.content;
        finish = completion.choices[0].finish_reason;
      }
      let ok = false;
      try {
        ok = finish === "stop" && validate(JSON.parse(text));
      } catch {}
      if (ok) valid++;
      else failures.push({ name, seed, stream, finish, text, errors: validate.errors });
    }
  }
}
console.log(JSON.stringify({ valid, failures }));
