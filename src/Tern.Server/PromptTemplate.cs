using System.Text;
using System.Text.Json.Nodes;
using Tern.Chat;
using Tern.Chat.ToolCalls;
using Tern.Gguf;
using Tern.Tokenizers;

namespace Tern.Server;

/// <summary>
/// The model's chat template (from <c>tokenizer.chat_template</c>, or --chat-template-file, or ChatML with a
/// warning), with the model's BOS/EOS texts, turning OpenAI messages into the prompt text and then into tokens.
/// </summary>
internal sealed class PromptTemplate
{
    private readonly ChatTemplate _template;
    private readonly string _bos;
    private readonly string _eos;
    private readonly bool _addBos;

    private PromptTemplate(string source, bool isFallback, Tokenizer tokenizer)
    {
        Source = source;
        IsFallback = isFallback;
        _template = ChatTemplate.Parse(source);
        ToolCallFormat = ToolCallFormats.Detect(source); // once, not per request
        _bos = TokenText(tokenizer, tokenizer.Bos);
        _eos = TokenText(tokenizer, tokenizer.Eos);
        _addBos = tokenizer.AddBos;
    }

    public string Source { get; }

    /// <summary>How this template's models write tool calls.</summary>
    public ToolCallFormat ToolCallFormat { get; }

    /// <summary>True when the model has no template and ChatML stands in.</summary>
    public bool IsFallback { get; }

    public static PromptTemplate Create(GgufFile file, Tokenizer tokenizer, string? templateFile, TextWriter log)
    {
        if (templateFile is not null)
            return new PromptTemplate(File.ReadAllText(templateFile), false, tokenizer);
        if (file.GetString("tokenizer.chat_template") is { } source)
            return new PromptTemplate(source, false, tokenizer);
        log.WriteLine("warning: the model has no chat template (tokenizer.chat_template); using ChatML");
        return new PromptTemplate(ChatTemplate.ChatMl, true, tokenizer);
    }

    /// <summary>
    /// The exact text the template renders for these messages (and tools), as /apply-template returns it: within the
    /// template limits, a few renders at a time, and stopped when the request is (<paramref name="cancellation"/>).
    /// </summary>
    public Task<string> RenderAsync(JsonArray messages, JsonArray? tools, bool addGenerationPrompt, CancellationToken cancellation) =>
        _template.RenderAsync(new ChatTemplateInput
        {
            Messages = messages,
            Tools = tools,
            AddGenerationPrompt = addGenerationPrompt,
            BosToken = _bos,
            EosToken = _eos,
        }, cancellation: cancellation);

    /// <summary>
    /// Tokens of a rendered prompt. Templates often write the BOS text themselves; when the tokenizer adds BOS
    /// too, the leading text is dropped so the prompt does not start with two (as llama.cpp does).
    /// </summary>
    public int[] Tokenize(Tokenizer tokenizer, string prompt)
    {
        if (_addBos && _bos.Length > 0 && prompt.StartsWith(_bos, StringComparison.Ordinal))
            prompt = prompt[_bos.Length..];
        return tokenizer.Encode(prompt, addSpecial: true, parseSpecial: true);
    }

    private static string TokenText(Tokenizer tokenizer, int id) =>
        id >= 0 ? Encoding.UTF8.GetString(tokenizer.TokenToBytes(id)) : "";
}
