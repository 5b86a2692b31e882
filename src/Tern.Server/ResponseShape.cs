using System.Text;
using System.Text.Json.Nodes;
using Tern.Chat.Reasoning;
using Tern.Runtime.Serving;
using Tern.Tokenizers;

namespace Tern.Server;

/// <summary>Builds OpenAI's response and chunk objects for one chat or text completion.</summary>
internal sealed class ResponseShape(string id, long created, string model, bool chat, bool logprobs, Tokenizer tokenizer)
{
    private string Object => chat ? "chat.completion" : "text_completion";

    /// <param name="reasoning">Splits the chat reply's reasoning into <c>reasoning_content</c>; null: all of it is content.</param>
    public JsonObject Complete(GenerationResponse r, ReasoningSplitter? reasoning = null)
    {
        var choice = new JsonObject { ["index"] = 0 };
        if (chat && reasoning is not null)
            choice["message"] = Message(ReasoningUpdate.Join(reasoning.Push(r.Text), reasoning.Finish()));
        else if (chat)
            choice["message"] = new JsonObject { ["role"] = "assistant", ["content"] = r.Text };
        else
            choice["text"] = r.Text;
        choice["logprobs"] = logprobs ? Logprobs(r.Tokens) : null;
        choice["finish_reason"] = Finish(r.Finished);
        return new JsonObject
        {
            ["id"] = id,
            ["object"] = Object,
            ["created"] = created,
            ["model"] = model,
            ["choices"] = new JsonArray(choice),
            ["usage"] = Usage(r.Finished),
            ["timings"] = Timings(r.Finished),
        };
    }

    /// <summary>The response to a chat request that went through the tool loop: client tool calls as OpenAI's
    /// <c>tool_calls</c>, built-in runs in the extra <c>tern_tool_calls</c> field that standard clients ignore.</summary>
    public JsonObject CompleteWithTools(AgentResult r)
    {
        var message = Message(new ReasoningUpdate(r.Reasoning, r.Content));
        if (r.ClientCalls.Count > 0 && r.Content.Length == 0)
            message["content"] = null;
        if (r.ClientCalls.Count > 0)
            message["tool_calls"] = ClientCalls(r.ClientCalls);
        if (r.ToolRuns.Count > 0)
            message["tern_tool_calls"] = new JsonArray([.. r.ToolRuns.Select(ToolRun)]);
        var choice = new JsonObject { ["index"] = 0, ["message"] = message, ["logprobs"] = null, ["finish_reason"] = r.FinishReason };
        return new JsonObject
        {
            ["id"] = id,
            ["object"] = "chat.completion",
            ["created"] = created,
            ["model"] = model,
            ["choices"] = new JsonArray(choice),
            ["usage"] = Usage(r.Finished with { Usage = r.Usage }),
        };
    }

    /// <summary>The assistant message: <c>reasoning_content</c> only when there is reasoning, as llama-server writes it.</summary>
    private static JsonObject Message(ReasoningUpdate split)
    {
        var message = new JsonObject { ["role"] = "assistant", ["content"] = split.Content };
        if (split.Reasoning.Length > 0)
            message["reasoning_content"] = split.Reasoning;
        return message;
    }

    public static JsonArray ClientCalls(IReadOnlyList<Tern.Chat.ToolCalls.ToolCall> calls) => new([.. calls.Select(c => c.ToJson())]);

    /// <summary>Arguments go out in pieces of at most this many characters, as OpenAI streams them.</summary>
    private const int ArgumentPiece = 24;

    /// <summary>
    /// One call as streamed <c>delta.tool_calls</c> entries, keyed by <paramref name="index"/>: the first carries the id,
    /// type and name with empty arguments; the arguments follow in pieces (never splitting a surrogate pair) that
    /// concatenate to the call's arguments.
    /// </summary>
    public static IEnumerable<JsonObject> StreamedCall(Tern.Chat.ToolCalls.ToolCall call, int index)
    {
        yield return new JsonObject
        {
            ["index"] = index,
            ["id"] = call.Id,
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = call.Name, ["arguments"] = "" },
        };
        for (int at = 0; at < call.Arguments.Length;)
        {
            int length = Math.Min(ArgumentPiece, call.Arguments.Length - at);
            if (at + length < call.Arguments.Length && char.IsHighSurrogate(call.Arguments[at + length - 1]))
                length--;
            yield return new JsonObject { ["index"] = index, ["function"] = new JsonObject { ["arguments"] = call.Arguments.Substring(at, length) } };
            at += length;
        }
    }

    public static JsonObject ToolRun(AgentToolRun run) => new()
    {
        ["id"] = run.Call.Id,
        ["name"] = run.Call.Name,
        ["arguments"] = run.Call.Arguments,
        ["ok"] = run.Result.Ok,
        ["output"] = run.Result.Output,
    };

    public JsonObject Chunk(JsonObject? delta, string? text, string? finish, JsonNode? chunkLogprobs = null)
    {
        var choice = new JsonObject { ["index"] = 0 };
        if (chat)
            choice["delta"] = delta ?? new JsonObject();
        else
            choice["text"] = text ?? "";
        choice["logprobs"] = chunkLogprobs;
        choice["finish_reason"] = finish;
        return new JsonObject
        {
            ["id"] = id,
            ["object"] = chat ? "chat.completion.chunk" : "text_completion",
            ["created"] = created,
            ["model"] = model,
            ["choices"] = new JsonArray(choice),
        };
    }

    public JsonObject DeltaChunk(GenerationDelta d) =>
        Chunk(new JsonObject { ["content"] = d.Text }, d.Text, null, logprobs ? Logprobs(d.Tokens) : null);

    /// <summary>A chat chunk with the reasoning and content this delta released; null when it released nothing to send.</summary>
    public JsonObject? SplitChunk(ReasoningUpdate split, IReadOnlyList<GeneratedToken> tokens)
    {
        if (split.IsEmpty && !(logprobs && tokens.Count > 0))
            return null;
        var delta = new JsonObject();
        if (split.Reasoning.Length > 0)
            delta["reasoning_content"] = split.Reasoning;
        if (split.Content.Length > 0)
            delta["content"] = split.Content;
        return Chunk(delta, null, null, logprobs ? Logprobs(tokens) : null);
    }

    /// <summary>The last chunk with a choice: the finish reason (<paramref name="finish"/>, or <paramref name="f"/>'s) and
    /// llama-server's <c>timings</c> (of the last model turn), which its clients read for the speed.</summary>
    public JsonObject FinishChunk(GenerationFinished f, string? finish = null)
    {
        var chunk = Chunk(null, null, finish ?? Finish(f));
        chunk["timings"] = Timings(f);
        return chunk;
    }

    public JsonObject UsageChunk(GenerationFinished f) => new()
    {
        ["id"] = id,
        ["object"] = chat ? "chat.completion.chunk" : "text_completion",
        ["created"] = created,
        ["model"] = model,
        ["choices"] = new JsonArray(),
        ["usage"] = Usage(f),
    };

    private static string? Finish(GenerationFinished f) => f.Reason switch
    {
        FinishReason.Stop => "stop",
        FinishReason.Length => "length",
        _ => null,
    };

    private static JsonObject Usage(GenerationFinished f) => new()
    {
        ["prompt_tokens"] = f.Usage.PromptTokens,
        ["completion_tokens"] = f.Usage.CompletionTokens,
        ["total_tokens"] = f.Usage.TotalTokens,
        ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = f.Usage.CachedTokens },
    };

    private static JsonObject Timings(GenerationFinished f) => new()
    {
        ["prompt_n"] = f.Timings.PromptTokensProcessed,
        ["prompt_ms"] = Math.Round(f.Timings.PromptMilliseconds, 3),
        ["prompt_per_second"] = Math.Round(f.Timings.PromptTokensPerSecond, 2),
        ["predicted_n"] = f.Timings.GeneratedTokens,
        ["predicted_ms"] = Math.Round(f.Timings.GenerationMilliseconds, 3),
        ["predicted_per_second"] = Math.Round(f.Timings.GenerationTokensPerSecond, 2),
        ["cache_n"] = f.Usage.CachedTokens,
    };

    private JsonObject Logprobs(IReadOnlyList<GeneratedToken> tokens)
    {
        var content = new JsonArray();
        foreach (var t in tokens)
        {
            var top = new JsonArray();
            foreach (var alt in t.TopLogprobs)
                top.Add(Entry(alt.Token, alt.Logprob));
            var entry = Entry(t.Id, t.Logprob);
            entry["top_logprobs"] = top;
            content.Add(entry);
        }

        return new JsonObject { ["content"] = content };
    }

    private JsonObject Entry(int token, float logprob)
    {
        byte[] bytes = tokenizer.TokenToBytes(token);
        var array = new JsonArray();
        foreach (byte b in bytes)
            array.Add(b);
        return new JsonObject
        {
            ["token"] = Encoding.UTF8.GetString(bytes),
            ["logprob"] = logprob,
            ["bytes"] = array,
        };
    }
}
