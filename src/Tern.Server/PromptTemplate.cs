using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tern.Chat;
using Tern.Chat.Reasoning;
using Tern.Chat.ToolCalls;
using Tern.Gguf;
using Tern.Tokenizers;

namespace Tern.Server;

/// <summary>
/// The model's chat template (from <c>tokenizer.chat_template</c>, or --chat-template-file, or ChatML with a
/// warning), with the model's BOS/EOS texts, turning OpenAI messages into the prompt text and then into tokens.
/// Only the template's own markup becomes special tokens: the text of a control token, or of a user-defined token
/// the template writes (Qwen3's &lt;tool_response&gt;), inside the request's strings (message content, names, tool
/// calls and results, tool schemas) stays text, unless --special-in-content asks otherwise.
/// </summary>
internal sealed class PromptTemplate
{
    private readonly ChatTemplate _template;
    private readonly Tokenizer _tokenizer;
    private readonly LiteralText? _literal; // null with --special-in-content
    private readonly string _bos;
    private readonly string _eos;

    private PromptTemplate(string source, bool isFallback, Tokenizer tokenizer, bool specialInContent)
    {
        Source = source;
        IsFallback = isFallback;
        _template = ChatTemplate.Parse(source);
        ToolCallFormat = ToolCallFormats.Detect(source); // once, not per request
        Reasoning = ReasoningMarkers.Detect(source);
        _tokenizer = tokenizer;
        _literal = specialInContent ? null : tokenizer.CreateLiteralText(MarkupTokens(tokenizer, source));
        _bos = TokenText(tokenizer, tokenizer.Bos);
        _eos = TokenText(tokenizer, tokenizer.Eos);
    }

    public string Source { get; }

    /// <summary>How this template's models write tool calls.</summary>
    public ToolCallFormat ToolCallFormat { get; }

    /// <summary>How this template's models mark their reasoning; null when the template writes no reasoning markup.</summary>
    public ReasoningMarkers? Reasoning { get; }

    /// <summary>True when the model has no template and ChatML stands in.</summary>
    public bool IsFallback { get; }

    /// <param name="specialInContent">Parse special-token text in the request's strings too (--special-in-content).</param>
    public static PromptTemplate Create(GgufFile file, Tokenizer tokenizer, string? templateFile, bool specialInContent, TextWriter log)
    {
        if (templateFile is not null)
            return new PromptTemplate(File.ReadAllText(templateFile), false, tokenizer, specialInContent);
        if (file.GetString("tokenizer.chat_template") is { } source)
            return new PromptTemplate(source, false, tokenizer, specialInContent);
        log.WriteLine("warning: the model has no chat template (tokenizer.chat_template); using ChatML");
        return new PromptTemplate(ChatTemplate.ChatMl, true, tokenizer, specialInContent);
    }

    /// <summary>
    /// The exact text the template renders for these messages (and tools, and chat_template_kwargs), as /apply-template returns it: within the
    /// template limits, a few renders at a time, and stopped when the request is (<paramref name="cancellation"/>).
    /// </summary>
    public Task<string> RenderAsync(JsonArray messages, JsonArray? tools, IReadOnlyDictionary<string, JsonNode?>? kwargs, bool addGenerationPrompt, CancellationToken cancellation) =>
        _template.RenderAsync(new ChatTemplateInput
        {
            Messages = messages,
            Tools = tools,
            AddGenerationPrompt = addGenerationPrompt,
            BosToken = _bos,
            EosToken = _eos,
            Variables = kwargs,
        }, cancellation: cancellation);

    /// <summary>
    /// The prompt's tokens for these messages (and tools, and chat_template_kwargs), with the generation prompt. The request's strings are
    /// marked (<see cref="LiteralText"/>) before rendering, so special-token text in them stays text; an assistant's
    /// content and reasoning keep the user-defined tokens the template parses (its &lt;think&gt;, its &lt;tool_call&gt;).
    /// Templates often write the BOS text themselves; when the tokenizer adds BOS too, the leading text is dropped
    /// so the prompt does not start with two (as llama.cpp does).
    /// </summary>
    public async Task<ChatPrompt> TokensAsync(JsonArray messages, JsonArray? tools, IReadOnlyDictionary<string, JsonNode?>? kwargs, CancellationToken cancellation)
    {
        string prompt = _literal is null
            ? await RenderAsync(messages, tools, kwargs, addGenerationPrompt: true, cancellation)
            : await RenderAsync(new JsonArray(messages.Select(MarkedMessage).ToArray()), (JsonArray?)Marked(tools, _literal),
                kwargs?.ToDictionary(kv => kv.Key, kv => Marked(kv.Value, _literal)), addGenerationPrompt: true, cancellation);
        if (_tokenizer.AddBos && _bos.Length > 0 && prompt.StartsWith(_bos, StringComparison.Ordinal))
            prompt = prompt[_bos.Length..];
        int[] tokens = _literal is null ? _tokenizer.Encode(prompt, addSpecial: true, parseSpecial: true) : _literal.Encode(prompt, addSpecial: true);
        return new ChatPrompt(tokens, Reasoning, Reasoning?.OpenedBy(prompt) == true);
    }

    /// <summary>
    /// What <paramref name="tools"/> add to a prompt, in tokens: a one-line user turn rendered with them and without.
    /// GET /props shows it for the built-in tools, so their cost in every tool-enabled prompt is visible.
    /// </summary>
    public async Task<int> ToolTokensAsync(JsonArray tools, CancellationToken cancellation)
    {
        JsonArray Hi() => [new JsonObject { ["role"] = "user", ["content"] = "hi" }];
        var with = await TokensAsync(Hi(), tools, null, cancellation);
        var without = await TokensAsync(Hi(), null, null, cancellation);
        return with.Tokens.Length - without.Tokens.Length;
    }

    private JsonNode? MarkedMessage(JsonNode? message) =>
        message is JsonObject m && m["role"]?.GetValue<string>() == "assistant"
            ? new JsonObject(m.Select(p => KeyValuePair.Create(p.Key, Marked(p.Value, _literal!, userDefined: p.Key is not ("content" or "reasoning_content")))))
            : Marked(message, _literal!);

    /// <summary>A copy of <paramref name="node"/> with every string value and key marked.</summary>
    private static JsonNode? Marked(JsonNode? node, LiteralText literal, bool userDefined = true) => node switch
    {
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(literal.Mark(p.Key, userDefined), Marked(p.Value, literal, userDefined)))),
        JsonArray a => new JsonArray(a.Select(n => Marked(n, literal, userDefined)).ToArray()),
        JsonValue v when v.GetValueKind() == JsonValueKind.String => JsonValue.Create(literal.Mark(v.GetValue<string>(), userDefined)),
        _ => node?.DeepClone(),
    };

    /// <summary>
    /// The user-defined tokens the template itself writes as markup (Qwen3's &lt;tool_response&gt;, &lt;think&gt;):
    /// their text in the request's strings is text too. Word and whitespace tokens are left to tokenize as always.
    /// </summary>
    private static IEnumerable<int> MarkupTokens(Tokenizer tokenizer, string source) =>
        Enumerable.Range(0, tokenizer.VocabSize).Where(id =>
            (tokenizer.GetTokenAttributes(id) & TokenAttributes.UserDefined) != 0
            && tokenizer.GetTokenText(id) is { Length: > 1 } text
            && !text.Any(char.IsWhiteSpace) && !text.All(char.IsLetterOrDigit)
            && source.Contains(text, StringComparison.Ordinal));

    private static string TokenText(Tokenizer tokenizer, int id) =>
        id >= 0 ? Encoding.UTF8.GetString(tokenizer.TokenToBytes(id)) : "";
}

/// <summary>A chat prompt's tokens, and how the model's reasoning is marked (<paramref name="OpensReasoning"/>: the prompt
/// ends inside a reasoning block, so the model's output starts in it).</summary>
internal sealed record ChatPrompt(int[] Tokens, ReasoningMarkers? Reasoning, bool OpensReasoning)
{
    /// <summary>A splitter for the model's reply, or null when the template marks no reasoning.</summary>
    public ReasoningSplitter? Splitter(bool keepMarkup) => Reasoning is null ? null : new ReasoningSplitter(Reasoning, OpensReasoning, keepMarkup);
}
