// Calls to this Tern server's own API (relative URLs, so the page works behind a path prefix too), with the key
// the user typed in. A failure is an ApiError carrying the HTTP status and the server's error message.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(key, json) {
  const h = {};
  if (key)
    h.Authorization = "Bearer " + key;
  if (json)
    h["Content-Type"] = "application/json";
  return h;
}

async function check(response) {
  if (response.ok)
    return response;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    message = body?.error?.message ?? message;
  } catch {
    // not JSON: keep the status line
  }
  throw new ApiError(response.status, message);
}

/** The ids of the models GET /v1/models lists. */
export async function listModels(key) {
  const response = await check(await fetch("v1/models", { headers: headers(key, false) }));
  const body = await response.json();
  return (body.data ?? []).map((m) => m.id);
}

/** POSTs a streamed chat completion and yields each chunk the server sends (parsed JSON) until [DONE]. */
export async function* streamChat(key, request, signal) {
  const response = await check(await fetch("v1/chat/completions", {
    method: "POST", headers: headers(key, true), body: JSON.stringify(request), signal,
  }));
  yield* serverSentEvents(response.body, signal);
}

/** The JSON `data:` of each server-sent event of `body`, until `data: [DONE]` or the end of the stream, and `{comment}`
 * for a comment line (the server's word while it loads the model); aborting `signal` throws. */
async function* serverSentEvents(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      signal.throwIfAborted(); // Stop: aborting the fetch ends the body too
      return;
    }
    buffer += value;
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
      const lines = block.split(/\r?\n/);
      const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
      if (data === "[DONE]")
        return;
      const comment = lines.filter((l) => l.startsWith(":")).map((l) => l.slice(1).trim()).join(" ");
      if (data === "" && comment !== "") // router mode: the model is loading ("loading NAME: ... repacked 30/64 tensors")
        yield { comment };
      if (data !== "") {
        const chunk = JSON.parse(data);
        if (chunk.error) // an error after the stream started
          throw new ApiError(chunk.error.code === "invalid_api_key" ? 401 : 500, chunk.error.message ?? "error");
        yield chunk;
      }
    }
  }
}
