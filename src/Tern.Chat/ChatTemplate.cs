using System.Text.Json.Nodes;
using Tern.Gguf;

namespace Tern.Chat;

/// <summary>
/// A compiled chat template: a Jinja2 subset interpreter that renders what Hugging Face's <c>apply_chat_template</c>
/// renders (trim_blocks, lstrip_blocks, loopcontrols, raise_exception, strftime_now, tojson as json.dumps), inside
/// a sandbox: templates see only plain values, and each render is bounded by <see cref="TemplateLimits"/>.
/// Thread-safe: one instance may render many inputs at once.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>The GGUF metadata key of a model's default chat template.</summary>
    public const string MetadataKey = "tokenizer.chat_template";

    /// <summary>ChatML, the fallback for models without a template (text parts of list contents are concatenated).</summary>
    public const string ChatMl =
        "{%- for message in messages -%}\n" +
        "{{- '<|im_start|>' + message['role'] + '\\n' -}}\n" +
        "{%- if message['content'] is string -%}{{- message['content'] -}}\n" +
        "{%- elif message['content'] is iterable -%}\n" +
        "{%- for part in message['content'] if part['type'] == 'text' -%}{{- part['text'] -}}{%- endfor -%}\n" +
        "{%- endif -%}\n" +
        "{{- '<|im_end|>\\n' -}}\n" +
        "{%- endfor -%}\n" +
        "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n";

    private readonly List<Stmt> _body;

    private ChatTemplate(string source, List<Stmt> body)
    {
        Source = source;
        _body = body;
    }

    public string Source { get; }

    /// <summary>Compiles a template; throws <see cref="TemplateException"/> naming the line of a syntax error.</summary>
    public static ChatTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ChatTemplate(source, Parser.Parse(source));
    }

    /// <summary>The template source stored in a GGUF file (<c>tokenizer.chat_template</c>, or <c>tokenizer.chat_template.NAME</c>), or null.</summary>
    public static string? SourceFromGguf(GgufFile file, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        return file.GetString(name is null ? MetadataKey : $"{MetadataKey}.{name}");
    }

    /// <summary>The compiled template of a GGUF file, or null when the file has none.</summary>
    public static ChatTemplate? FromGguf(GgufFile file, string? name = null) =>
        SourceFromGguf(file, name) is { } source ? Parse(source) : null;

    public string Render(ChatTemplateInput input, TemplateLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        var scope = new Scope(Globals.Create());
        scope.Set("messages", Json.FromNode(input.Messages));
        scope.Set("tools", input.Tools is null ? NoneValue.Instance : Json.FromNode(input.Tools));
        scope.Set("documents", NoneValue.Instance);
        scope.Set("add_generation_prompt", Value.Bool(input.AddGenerationPrompt));
        scope.Set("bos_token", StringValue.Of(input.BosToken));
        scope.Set("eos_token", StringValue.Of(input.EosToken));
        foreach (var (name, value) in input.Variables ?? new Dictionary<string, JsonNode?>())
            scope.Set(name, Json.FromNode(value));
        try
        {
            return new Renderer(limits ?? TemplateLimits.Default, input.Clock).Render(_body, scope);
        }
        catch (Exception ex) when (ex is not (TemplateException or OutOfMemoryException))
        {
            // a safety net: any other failure is a bug here, but callers should still see a template error
            throw new TemplateException($"template failed: {ex.Message}", inner: ex);
        }
    }
}
