using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Tern.Runtime.Serving;

namespace Tern.Server;

/// <summary>
/// POST /v1/embeddings: each input's token states, pooled (mean, CLS or last token: --pooling, else the model's
/// <c>pooling_type</c>, else mean), truncated to <c>dimensions</c> and L2-normalised. The inputs run through the
/// engine beside chat requests, at most as many at once as it has sequences.
/// </summary>
internal sealed class EmbeddingRoutes(TernServer server)
{
    /// <summary>OpenAI's limit on inputs per request.</summary>
    private const int MaxInputs = 2048;

    private static readonly IReadOnlySet<string> Fields = new HashSet<string> { "model", "input", "encoding_format", "dimensions" };

    public async Task EmbeddingsAsync(HttpContext http)
    {
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        RequestFields.Check(r, Fields, "/v1/embeddings");
        using var lease = await server.AcquireAsync(http, r);
        var model = lease.Model;
        var inputs = Inputs(r, model);
        bool base64 = r.String("encoding_format") switch
        {
            null or "float" => false,
            "base64" => true,
            var other => throw ApiException.BadRequest($"'encoding_format' must be \"float\" or \"base64\", got \"{other}\"", "encoding_format"),
        };
        int width = model.Model.Config.EmbeddingLength;
        int dimensions = (int)(r.Integer("dimensions", 1, width) ?? width);
        var pooling = server.Options.Pooling ?? ModelPooling(model);

        server.Metrics.Request();
        var vectors = new float[inputs.Count][];
        int promptTokens = 0;
        using var slots = new SemaphoreSlim(model.Engine.Parallel);
        await Task.WhenAll(inputs.Select(async (tokens, i) =>
        {
            await slots.WaitAsync(http.RequestAborted);
            try
            {
                var request = new GenerationRequest { Id = $"embd-{Guid.NewGuid():N}", PromptTokens = tokens, Embedding = pooling };
                var response = await model.Engine.Submit(request, http.RequestAborted).ReadEmbeddingAsync(http.RequestAborted);
                vectors[i] = Normalised(response.Vector.AsSpan(0, dimensions));
                Interlocked.Add(ref promptTokens, tokens.Length);
            }
            finally
            {
                slots.Release();
            }
        }));

        var data = new JsonArray();
        for (int i = 0; i < vectors.Length; i++)
        {
            JsonNode embedding = base64
                ? Convert.ToBase64String(MemoryMarshal.AsBytes(vectors[i].AsSpan()))
                : new JsonArray([.. vectors[i].Select(v => JsonValue.Create(v))]);
            data.Add(new JsonObject { ["object"] = "embedding", ["index"] = i, ["embedding"] = embedding });
        }

        await Results.Json(new JsonObject
        {
            ["object"] = "list",
            ["data"] = data,
            ["model"] = model.Name,
            ["usage"] = new JsonObject { ["prompt_tokens"] = promptTokens, ["total_tokens"] = promptTokens },
        }, ServerJson.Options).ExecuteAsync(http);
        if (RequestStats.Current is { } stats)
        {
            stats.Model = model.Name;
            stats.AddPromptTokens(promptTokens);
        }
    }

    /// <summary>The model's GGUF <c>pooling_type</c> (1 mean, 2 CLS, 3 last); mean for a model that names none.</summary>
    private static Pooling ModelPooling(ServedModel model) =>
        model.Model.File.GetInteger($"{model.Model.Config.Architecture}.pooling_type") is { } type && Enum.IsDefined((Pooling)type) ? (Pooling)type : Pooling.Mean;

    private static float[] Normalised(ReadOnlySpan<float> vector)
    {
        var result = vector.ToArray();
        float norm = System.Numerics.Tensors.TensorPrimitives.Norm(result);
        if (norm > 0)
            System.Numerics.Tensors.TensorPrimitives.Divide(result, norm, result);
        return result;
    }

    /// <summary>
    /// <c>input</c>: a string, an array of strings, an array of token ids, or an array of token-id arrays; each becomes
    /// its tokens (text with the model's BOS/EOS, special-token text read as text), within the context per sequence.
    /// </summary>
    private static List<int[]> Inputs(JsonRequest r, ServedModel model)
    {
        var input = r.Element("input") ?? throw ApiException.BadRequest("'input' is required", "input", "missing_required_parameter");
        var items = new List<(JsonElement Item, string At)>();
        switch (input.ValueKind)
        {
            case JsonValueKind.String:
                items.Add((input, "input"));
                break;
            case JsonValueKind.Array when input.GetArrayLength() > 0 && input[0].ValueKind == JsonValueKind.Number:
                items.Add((input, "input"));
                break;
            case JsonValueKind.Array:
                if (input.GetArrayLength() == 0)
                    throw ApiException.BadRequest("'input' must not be empty", "input");
                if (input.GetArrayLength() > MaxInputs)
                    throw ApiException.BadRequest($"'input' may hold at most {MaxInputs} inputs, got {input.GetArrayLength()}", "input");
                int n = 0;
                foreach (var item in input.EnumerateArray())
                    items.Add((item, $"input[{n++}]"));
                break;
            default:
                throw JsonRequest.WrongType("input", input, "a string, an array of strings or an array of token ids");
        }

        var result = new List<int[]>();
        foreach (var (item, at) in items)
        {
            int[] tokens = item.ValueKind switch
            {
                JsonValueKind.String => item.GetString()!.Length == 0
                    ? throw ApiException.BadRequest($"'{at}' must not be an empty string", at)
                    : model.Tokenizer.Encode(item.GetString()!, addSpecial: true, parseSpecial: false),
                JsonValueKind.Array => TokenIds(item, at, model.VocabSize),
                _ => throw JsonRequest.WrongType(at, item, "a string or an array of token ids"),
            };
            if (tokens.Length == 0)
                throw ApiException.BadRequest($"'{at}' has no tokens", at);
            if (tokens.Length > model.Engine.ContextPerSequence)
                throw new ApiException(400, $"'{at}' has {tokens.Length} tokens, more than the {model.Engine.ContextPerSequence} of a sequence's context", at, "context_length_exceeded");
            result.Add(tokens);
        }

        return result;
    }

    private static int[] TokenIds(JsonElement array, string at, int vocabSize)
    {
        var tokens = new int[array.GetArrayLength()];
        int i = 0;
        foreach (var t in array.EnumerateArray())
        {
            if (t.ValueKind != JsonValueKind.Number || !t.TryGetInt32(out int id) || id < 0 || id >= vocabSize)
                throw ApiException.BadRequest($"'{at}[{i}]' must be a token id between 0 and {vocabSize - 1}", $"{at}[{i}]");
            tokens[i++] = id;
        }

        return tokens;
    }
}
