using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tern.Chat;
using Tern.Chat.ToolCalls;
using Tern.Gguf;
using Tern.Tokenizers;

namespace Tern.Server;

/// <summary>
/// The model's chat template (from <c>tokenizer.chat_template</c>, or --chat-template-file, or ChatML with a
/// warning), with the model's BOS/EOS texts, turning OpenAI messages into the prompt text and then into tokens.
/// Only the template's own markup becomes control tokens: the text of one inside the request's strings (message
/// content, names, tool calls and results, tool schemas) stays text, unless --special-in-content asks otherwise.
/// </summary>
internal sealed class PromptTemplate
{
    private readonly ChatTemplate _template;
    private readonly Tokenizer _tokenizer;
    private readonly bool _specialInContent;
    private readonly string _bos;
    private readonly string _eos;

    private PromptTemplate(string source, bool isFallback, Tokenizer tokenizer, bool specialInContent)
    {
        Source = source;
        IsFallback = isFallback;
        _template = ChatTemplate.Parse(source);
        ToolCallFormat = ToolCallFormats.Detect(source); // once, not per request
        _tokenizer = tokenizer;
        _specialInContent = specialInContent;
        _bos = TokenText(tokenizer, tokenizer.Bos);
        _eos = TokenText(tokenizer, tokenizer.Eos);
    }

    public string Source { get; }

    /// <summary>How this template's models write tool calls.</summary>
    public ToolCallFormat ToolCallFormat { get; }

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

    /// <summary>The exact text the template renders for these messages (and tools), as /apply-template returns it.</summary>
    public string Render(JsonArray messages, JsonArray? tools, bool addGenerationPrompt) =>
        _template.Render(new ChatTemplateInput
        {
            Messages = messages,
            Tools = tools,
            AddGenerationPrompt = addGenerationPrompt,
            BosToken = _bos,
            EosToken = _eos,
        });

    /// <summary>
    /// The prompt's tokens for these messages (and tools), with the generation prompt. The request's strings are
    /// marked (<see cref="Tokenizer.MarkLiteral"/>) before rendering, so control-token text in them stays text.
    /// Templates often write the BOS text themselves; when the tokenizer adds BOS too, the leading text is dropped
    /// so the prompt does not start with two (as llama.cpp does).
    /// </summary>
    public int[] Tokens(JsonArray messages, JsonArray? tools)
    {
        string prompt = _specialInContent
            ? Render(messages, tools, addGenerationPrompt: true)
            : Render((JsonArray)Marked(messages)!, (JsonArray?)Marked(tools), addGenerationPrompt: true);
        if (_tokenizer.AddBos && _bos.Length > 0 && prompt.StartsWith(_bos, StringComparison.Ordinal))
            prompt = prompt[_bos.Length..];
        return _specialInContent ? _tokenizer.Encode(prompt, addSpecial: true, parseSpecial: true) : _tokenizer.EncodeMarked(prompt, addSpecial: true);
    }

    /// <summary>A copy of <paramref name="node"/> with every string value and key marked.</summary>
    private JsonNode? Marked(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(_tokenizer.MarkLiteral(p.Key), Marked(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Marked).ToArray()),
        JsonValue v when v.GetValueKind() == JsonValueKind.String => JsonValue.Create(_tokenizer.MarkLiteral(v.GetValue<string>())),
        _ => node?.DeepClone(),
    };

    private static string TokenText(Tokenizer tokenizer, int id) =>
        id >= 0 ? Encoding.UTF8.GetString(tokenizer.TokenToBytes(id)) : "";
}
