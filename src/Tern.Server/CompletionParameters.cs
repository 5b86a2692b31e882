using System.Globalization;
using System.Text.Json;
using Tern.Runtime.Sampling;

namespace Tern.Server;

/// <summary>The generation parameters shared by /v1/chat/completions and /v1/completions, validated.</summary>
internal sealed record CompletionParameters(SamplingParams Sampling, int? MaxTokens, IReadOnlyList<string> Stop, bool Stream, bool IncludeUsage, bool Logprobs, int TopLogprobs,
    Runtime.Grammar.Grammar? Grammar = null, int? Slot = null)
{
    private const int MaxStopStrings = 16;

    public static CompletionParameters Read(JsonRequest r, SamplingParams defaults, int vocabSize, bool chat, int parallel)
    {
        if (r.Integer("n", 1, 1) is not null and not 1)
            throw ApiException.BadRequest("only n = 1 is supported", "n");
        r.Bool("cache_prompt"); // prompt prefixes are always reused; reuse changes no output, so either value is honoured
        var sampling = defaults with
        {
            Temperature = (float)(r.Number("temperature", 0, 2) ?? defaults.Temperature),
            TopP = (float)(r.Number("top_p", 0, 1) ?? defaults.TopP),
            TopK = (int)(r.Integer("top_k", 0, vocabSize) ?? defaults.TopK),
            MinP = (float)(r.Number("min_p", 0, 1) ?? defaults.MinP),
            RepeatPenalty = (float)(r.Number("repeat_penalty", 0, 10) ?? defaults.RepeatPenalty),
            PresencePenalty = (float)(r.Number("presence_penalty", -2, 2) ?? defaults.PresencePenalty),
            FrequencyPenalty = (float)(r.Number("frequency_penalty", -2, 2) ?? defaults.FrequencyPenalty),
            Seed = r.Integer("seed", long.MinValue, long.MaxValue) is { } seed ? unchecked((ulong)seed) : null,
            LogitBias = LogitBias(r, vocabSize),
        };
        if (sampling.TopP == 0)
            throw ApiException.BadRequest("'top_p' must be above 0", "top_p");

        string maxName = chat && r.Has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        int? maxTokens = (int?)r.Integer(maxName, 0, int.MaxValue);

        bool logprobs = chat ? r.Bool("logprobs") ?? false : r.Integer("logprobs", 0, 20) is > 0;
        int topLogprobs = chat ? (int)(r.Integer("top_logprobs", 0, 20) ?? 0) : (int)(r.Integer("logprobs", 0, 20) ?? 0);
        if (chat && topLogprobs > 0 && !logprobs)
            throw ApiException.BadRequest("'top_logprobs' needs 'logprobs': true", "top_logprobs");

        bool includeUsage = false;
        if (r.Element("stream_options") is { } options)
        {
            if (options.ValueKind != JsonValueKind.Object)
                throw JsonRequest.WrongType("stream_options", options, "an object");
            if (options.TryGetProperty("include_usage", out var usage) && usage.ValueKind != JsonValueKind.Null)
            {
                includeUsage = usage.ValueKind is JsonValueKind.True or JsonValueKind.False
                    ? usage.GetBoolean()
                    : throw JsonRequest.WrongType("stream_options.include_usage", usage, "a boolean");
            }
        }

        // llama-server's id_slot: the slot whose cache (POST /slots/{id}?action=save) the request's tokens become; -1: its own
        int? slot = r.Integer("id_slot", -1, parallel - 1) is { } id and >= 0 ? (int)id : null;
        return new CompletionParameters(sampling, maxTokens, StopStrings(r), r.Bool("stream") ?? false, includeUsage, logprobs, topLogprobs, StructuredOutput.Read(r), slot);
    }

    private static IReadOnlyList<string> StopStrings(JsonRequest r)
    {
        if (r.Element("stop") is not { } stop)
            return [];
        if (stop.ValueKind == JsonValueKind.String)
            return [stop.GetString()!];
        if (stop.ValueKind != JsonValueKind.Array)
            throw JsonRequest.WrongType("stop", stop, "a string or an array of strings");
        if (stop.GetArrayLength() > MaxStopStrings)
            throw ApiException.BadRequest($"'stop' may hold at most {MaxStopStrings} strings", "stop");
        var list = new List<string>();
        foreach (var item in stop.EnumerateArray())
            list.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw JsonRequest.WrongType("stop", item, "an array of strings"));
        return list;
    }

    private static IReadOnlyDictionary<int, float> LogitBias(JsonRequest r, int vocabSize)
    {
        if (r.Element("logit_bias") is not { } bias)
            return new Dictionary<int, float>();
        if (bias.ValueKind != JsonValueKind.Object)
            throw JsonRequest.WrongType("logit_bias", bias, "an object mapping token ids to biases");
        var result = new Dictionary<int, float>();
        foreach (var p in bias.EnumerateObject())
        {
            if (!int.TryParse(p.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int token) || token >= vocabSize)
                throw ApiException.BadRequest($"'logit_bias' key '{p.Name}' is not a token id below {vocabSize}", "logit_bias");
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetDouble(out double b) || b < -100 || b > 100)
                throw ApiException.BadRequest($"'logit_bias' value for token {token} must be a number between -100 and 100", "logit_bias");
            result[token] = b <= -100 ? float.NegativeInfinity : (float)b;
        }

        if (result.Count == vocabSize && result.Values.All(float.IsNegativeInfinity))
            throw ApiException.BadRequest($"'logit_bias' bans every token (all {vocabSize} at -100): nothing could be generated", "logit_bias");
        return result;
    }
}
