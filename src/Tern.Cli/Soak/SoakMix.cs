using System.Text.Json.Nodes;

namespace Tern.Cli.Soak;

/// <summary>What the client does with the answer.</summary>
internal enum ClientAction
{
    /// <summary>Reads the whole answer.</summary>
    ReadAll,

    /// <summary>Streams, then closes the stream after <see cref="SoakRequest.ActionArgument"/> content chunks.</summary>
    CloseAfterChunks,

    /// <summary>Aborts the connection <see cref="SoakRequest.ActionArgument"/> milliseconds after sending, before the answer.</summary>
    AbortAfterDelay,
}

/// <summary>One request of the mix and the status it must get.</summary>
internal sealed record SoakRequest(string Kind, HttpMethod Method, string Path, string? Body, bool Stream, int ExpectedStatus,
    ClientAction Action = ClientAction.ReadAll, int ActionArgument = 0);

/// <summary>What the soak learned about the server before the load: it sizes the prompts.</summary>
/// <param name="ContextLength">Tokens per sequence (/props n_ctx).</param>
/// <param name="CharsPerToken">Characters of the mix's text per token (/tokenize on a sample).</param>
/// <param name="Router">The server serves several models (--models-dir): an unknown model is a 404 on chat.</param>
/// <param name="Slots">Sequences the server decodes together (/props total_slots), when it says.</param>
internal sealed record SoakServerInfo(int ContextLength, double CharsPerToken, bool Router, int? Slots = null)
{
    /// <summary>A long prompt: a quarter of the context, at most 1,024 tokens.</summary>
    public int LongPromptTokens => Math.Clamp(ContextLength / 4, 16, 1024);
}

/// <summary>
/// The request mix, drawn from a client's own seeded <see cref="Random"/>: short and long prompts, prompts that share
/// long system prompts (the prefix cache's case), streaming and not, streams closed after a few chunks, connections
/// aborted before the answer, and malformed requests that must get their 4xx. The same seed gives the same requests.
/// </summary>
internal sealed class SoakMix
{
    /// <summary>Kinds and their weights (out of 100).</summary>
    public static readonly IReadOnlyList<(string Kind, int Weight)> Kinds =
    [
        ("short", 18), ("short_stream", 18), ("shared_prefix", 10), ("shared_prefix_stream", 10), ("long", 4), ("long_stream", 4),
        ("cancel_mid_stream", 12), ("disconnect", 8), ("malformed", 16),
    ];

    private const string ChatPath = "/v1/chat/completions";
    private readonly SoakServerInfo _server;
    private readonly string? _model;
    private readonly int _maxTokens;
    private readonly string[] _systemPrompts;
    private readonly IReadOnlyList<MalformedRequest> _malformed;

    public SoakMix(SoakServerInfo server, int seed, int maxTokens, string? model)
    {
        _server = server;
        _model = model;
        _maxTokens = maxTokens;
        var shared = new Random(seed);
        _systemPrompts = [.. Enumerable.Range(0, 4).Select(_ => PromptText.Words(shared, Chars(server.LongPromptTokens)))];
        _malformed = MalformedRequest.All(server, model, ChatPath, PromptText.Words(shared, Chars(2 * server.ContextLength + 64)));
    }

    public IReadOnlyList<MalformedRequest> Malformed => _malformed;

    public SoakRequest Next(Random random)
    {
        string kind = Pick(random);
        return kind switch
        {
            "short" or "short_stream" => Chat(kind, random, system: null, User(random, random.Next(4, 30) * 6)),
            "shared_prefix" or "shared_prefix_stream" => Chat(kind, random, _systemPrompts[random.Next(_systemPrompts.Length)], User(random, random.Next(4, 20) * 6)),
            "long" or "long_stream" => Chat(kind, random, system: null, User(random, Chars(_server.LongPromptTokens))),
            "cancel_mid_stream" => Chat(kind, random, system: null, User(random, 60), stream: true, (ClientAction.CloseAfterChunks, random.Next(1, 5))),
            "disconnect" => Chat(kind, random, system: null, User(random, 60), stream: false, (ClientAction.AbortAfterDelay, random.Next(1, 50))),
            _ => _malformed[random.Next(_malformed.Count)].Request,
        };
    }

    /// <summary>
    /// A long prompt asking for the most tokens: the warm-up starts with one for every slot of the server at once, so it
    /// runs its widest steps (prompts prefilling together up to its step budget) and its buffers reach their largest.
    /// </summary>
    public SoakRequest Burst(Random random) => Chat("warmup_burst", random, system: null, User(random, Chars(_server.LongPromptTokens)), stream: false, longest: true);

    private static string Pick(Random random)
    {
        int roll = random.Next(Kinds.Sum(k => k.Weight));
        foreach (var (kind, weight) in Kinds)
        {
            if (roll < weight)
                return kind;
            roll -= weight;
        }

        throw new InvalidOperationException("unreachable: the roll is below the weights' sum");
    }

    private int Chars(int tokens) => (int)Math.Ceiling(tokens * _server.CharsPerToken);

    private static string User(Random random, int chars) => PromptText.Words(random, chars);

    /// <summary>A chat request; one with an <paramref name="action"/> asks for the most tokens, so there is an answer to cut.</summary>
    private SoakRequest Chat(string kind, Random random, string? system, string user, bool? stream = null, (ClientAction Action, int Argument)? action = null,
        bool longest = false)
    {
        bool streaming = stream ?? kind.EndsWith("_stream", StringComparison.Ordinal);
        var messages = new JsonArray();
        if (system is not null)
            messages.Add(new JsonObject { ["role"] = "system", ["content"] = system });
        messages.Add(new JsonObject { ["role"] = "user", ["content"] = user });
        var body = new JsonObject { ["messages"] = messages, ["max_tokens"] = action is null && !longest ? random.Next(1, _maxTokens + 1) : _maxTokens };
        if (_model is not null)
            body["model"] = _model;
        if (random.Next(3) == 0)
            body["temperature"] = 0;
        if (streaming)
            body["stream"] = true;
        return new SoakRequest(kind, HttpMethod.Post, ChatPath, body.ToJsonString(), streaming, 200, action?.Action ?? ClientAction.ReadAll, action?.Argument ?? 0);
    }
}

/// <summary>Text for prompts: common words drawn at random (varied enough that a prompt is its own, not a cached copy).</summary>
internal static class PromptText
{
    private static readonly string[] Vocabulary =
    [
        "the", "a", "little", "girl", "boy", "dog", "cat", "sun", "tree", "house", "river", "stone", "blue", "red", "green",
        "happy", "sad", "big", "small", "ran", "saw", "found", "played", "said", "wanted", "went", "park", "ball", "friend",
        "mom", "day", "time", "once", "upon", "there", "was", "and", "then", "very", "with", "in", "to", "of", "they", "she",
        "he", "it", "away", "home", "bird", "flower", "garden", "apple", "water", "sky", "night", "star", "toy", "box",
        "lucy", "tom", "ben", "lily",
    ];

    /// <summary>About <paramref name="chars"/> characters of words (never fewer than one word).</summary>
    public static string Words(Random random, int chars)
    {
        var text = new System.Text.StringBuilder(chars + 16);
        while (text.Length < chars || text.Length == 0)
        {
            if (text.Length > 0)
                text.Append(' ');
            text.Append(Vocabulary[random.Next(Vocabulary.Length)]);
        }

        return text.ToString();
    }
}
